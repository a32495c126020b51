package mailbox

import "github.com/prometheus/client_golang/prometheus"

// metrics are the store's counters; registered only when a registerer is
// given.
type metrics struct {
	delivered     *prometheus.CounterVec
	deliveredSize prometheus.Counter
	brokenIndexes prometheus.Counter
	headerLookups *prometheus.CounterVec
	folderScans   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_mailbox_deliveries_total",
			Help: "Local deliveries by result: inbox, folder, junk, over_quota, error.",
		}, []string{"result"}),
		deliveredSize: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailgate_mailbox_delivered_bytes_total",
			Help: "Bytes of mail stored by local delivery.",
		}),
		brokenIndexes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailgate_mailbox_broken_indexes_total",
			Help: "Folder indexes found corrupt, moved aside and rebuilt (UIDs renumbered).",
		}),
		headerLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_mailbox_header_cache_lookups_total",
			Help: "Message headers asked of the header cache (IMAP FETCH and SEARCH), by result: hit, miss.",
		}, []string{"result"}),
		folderScans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailgate_mailbox_folder_scans_total",
			Help: "Times a folder's new/ and cur/ were read whole because another program changed them (or a message file went missing).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.delivered, m.deliveredSize, m.brokenIndexes, m.headerLookups, m.folderScans)
	}
	return m
}
