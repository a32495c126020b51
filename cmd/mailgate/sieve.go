package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"time"

	"mailgate/config"
	"mailgate/delivery"
	"mailgate/filters"
	"mailgate/internal/mailmsg"
	"mailgate/mailbox"
	"mailgate/managesieve"
	"mailgate/sieve"
	"mailgate/sieve/filter"
	"mailgate/sieve/scripts"
)

// sieveMailboxes adapts the mail store to what Sieve actions need.
type sieveMailboxes struct{ *mailbox.Store }

func (m sieveMailboxes) DeliverFlags(ctx context.Context, account, folder string, msg []byte, flags []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := m.Append(account, folder, bytes.NewReader(msg), flags, time.Time{})
	return err
}

func (m sieveMailboxes) CreateFolder(account, folder string) error {
	err := m.Store.CreateFolder(account, folder)
	if errors.Is(err, mailbox.ErrFolderExists) {
		return nil
	}
	return err
}

// sieveQueue queues the messages Sieve writes (forwards, vacation
// replies), DKIM-signing the ones asked for. It reads app.queue when
// called: the filter is built before the queue, which starts delivering
// only after app.queue is set.
type sieveQueue struct {
	app    *app
	signer *filters.DKIMSigner
	// listener names the source in the queue's records; "" is "sieve".
	listener string
}

func (s sieveQueue) Submit(ctx context.Context, from string, to []string, msg []byte, sign bool) error {
	if sign && s.signer != nil {
		signed, err := s.signer.Sign(ctx, msg)
		if err != nil {
			return err
		}
		msg = signed
	}
	return s.enqueue(ctx, from, "", to, msg)
}

// Forward queues a redirect of the account via: its recipients carry via
// as the address they were sent to, so delivery seals them with ARC like
// any forward (docs/forwarding.md).
func (s sieveQueue) Forward(ctx context.Context, from, via string, to []string, msg []byte) error {
	return s.enqueue(ctx, from, via, to, msg)
}

func (s sieveQueue) enqueue(ctx context.Context, from, via string, to []string, msg []byte) error {
	now := time.Now()
	src := s.listener
	if src == "" {
		src = "sieve"
	}
	env := &mailmsg.Envelope{ID: mailmsg.NewID(now), From: from, Received: now, Listener: src, EightBit: true}
	for _, r := range to {
		env.Recipients = append(env.Recipients, mailmsg.Recipient{Addr: r, Orig: via})
	}
	return s.app.queue.Enqueue(ctx, env, msg)
}

// sieveScripts opens <data_dir>/sieve with the configured limits.
func sieveScripts(cfg *config.Config) (*scripts.Store, error) {
	return scripts.New(filepath.Join(cfg.DataDir, "sieve"),
		scripts.Limits{MaxScripts: cfg.Sieve.MaxScripts, MaxScriptSize: int(cfg.Sieve.MaxScriptSize)})
}

// startSieve opens the scripts and puts the Sieve filter into local
// delivery; startQueue calls it between building the router and starting
// the queue.
func (a *app) startSieve() error {
	st, err := sieveScripts(a.cfg)
	if err != nil {
		return err
	}
	a.sieveScripts = st
	if !a.cfg.Sieve.Enabled {
		return nil
	}
	signer, err := filters.NewDKIMSigner(a.cfg, filters.Deps{Logger: a.log})
	if err != nil {
		return err
	}
	sc := a.cfg.Sieve
	local, ok := a.router.Local.(*delivery.Local)
	if !ok {
		return nil
	}
	local.Sieve = &filter.Filter{
		Scripts: st, Mailboxes: sieveMailboxes{a.store}, Queue: sieveQueue{app: a, signer: signer},
		Limits:   sieve.Limits{MaxActions: sc.MaxActions, MaxRedirects: sc.MaxRedirects, MaxSteps: sc.MaxSteps},
		Hostname: a.cfg.Hostname, Timeout: sc.RunTimeout.D(), Logger: a.log, Metrics: filter.NewMetrics(a.reg),
	}
	return nil
}

// startManageSieve serves the managesieve listeners (RFC 5804).
func (a *app) startManageSieve(bool) error {
	srv := managesieve.New(managesieve.Options{
		Scripts: a.sieveScripts, Auth: a.accounts, Logins: a.logins(), TLS: a.tls,
		Capabilities: sieve.Capabilities, MaxRedirects: a.cfg.Sieve.MaxRedirects,
		AllowInsecureAuth: a.manageSieveInsecure(), Logger: a.log, Registerer: a.reg,
		AuthFailureDelay: a.cfg.Auth.Delay.D(),
	})
	started := false
	for _, l := range a.cfg.Listeners {
		if l.Protocol != config.ProtoManageSieve {
			continue
		}
		run := func(ln net.Listener) error {
			if err := srv.Serve(ln); !errors.Is(err, managesieve.ErrServerClosed) {
				return err
			}
			return nil
		}
		if err := a.serve(l, run, nil); err != nil {
			return err
		}
		started = true
	}
	if started {
		a.stops = append(a.stops, func(context.Context) { srv.Close() })
	}
	return nil
}

// manageSieveInsecure: clear-text AUTHENTICATE is allowed (for loopback
// clients only) when a managesieve listener on a loopback address says so.
func (a *app) manageSieveInsecure() bool {
	for _, l := range a.cfg.Listeners {
		if l.Protocol == config.ProtoManageSieve && a.insecureAuth(l) {
			return true
		}
	}
	return false
}
