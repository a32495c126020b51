package console

import (
	"net/http"
	"time"
)

type overviewData struct {
	Status   Status
	Charts   []chart
	CertDays int
	CertWarn bool
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) {
	d := overviewData{Status: Status{DiskFree: -1}}
	if c.opts.Status != nil {
		d.Status = c.opts.Status()
	}
	if !d.Status.CertExpiry.IsZero() {
		d.CertDays = int(d.Status.CertExpiry.Sub(c.now()).Hours() / 24)
		d.CertWarn = d.CertDays < 14
	}
	d.Charts = []chart{
		newChart("Last hour (per minute)", "-60m", c.samples.window(time.Hour, time.Minute)),
		newChart("Last day (per hour)", "-24h", c.samples.window(24*time.Hour, time.Hour)),
	}
	c.render(w, r, s, http.StatusOK, "overview", d)
}
