package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// screenshotDir is where the browser tests leave their screenshots
// (TESTING.md): $MAILGATE_ARTIFACTS/console, or e2e/artifacts/console
// (ignored by git).
func screenshotDir(t *testing.T) string {
	dir := filepath.Join("artifacts", "console")
	if d := os.Getenv("MAILGATE_ARTIFACTS"); d != "" {
		dir = filepath.Join(d, "console")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newChromium starts Debian's headless Chromium for one test: no
// sandbox when run as root (CI), no network beyond loopback (every host
// name but localhost and 127.0.0.1 fails to resolve, no proxy, no background fetches).
func newChromium(t *testing.T) context.Context {
	t.Helper()
	exe := testenv.Tool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 760),
		chromedp.DisableGPU,
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-component-update", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first call starts the browser, which lives as long as the
	// context of that call: no timeout on it (each step has one, in run).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return ctx
}

// shot saves a PNG screenshot of the page as name.png.
func shot(t *testing.T, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		buf, err := chromedp.CaptureScreenshot()(ctx, tg)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(screenshotDir(t), name+".png"), buf, 0o644)
	})
}

// textInto reads the visible text of the element sel into dst.
func textInto(sel string, dst *string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		v, err := chromedp.Text(chromedp.CSS(sel))(ctx, tg)
		*dst = v
		return err
	})
}

// clickLoad clicks sel and waits for the load event of the page the
// click brings (a form's POST, its redirect, the GET). A query sent
// right after a click would otherwise race the navigation: it can find
// the old page's element (the old #flash) or hang on a document that is
// going away until the step's deadline, which is what made
// TestConsoleInChromium flaky on a loaded machine.
func clickLoad(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))(ctx, tg)
		return err
	})
}

// run runs browser steps, each group bounded by two minutes (a loaded
// machine), and fails the test with what it was doing.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s: %v (page %s)", what, err, loc)
	}
}

// submitFlash runs the steps that fill a form, submits it with button
// and checks that the page it brings shows a flash message with want.
func submitFlash(t *testing.T, ctx context.Context, what, button, want, shotName string, fill ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	var flash string
	run(t, ctx, what, append(fill, clickLoad(button), chromedp.WaitVisible(chromedp.CSS("#flash")),
		textInto("#flash", &flash), shot(t, shotName))...)
	if !strings.Contains(flash, want) {
		t.Errorf("%s: the page says %q, want %q", what, flash, want)
	}
}

func loginSteps(base, user, pass, landing string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(base+"/console/login"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), pass),
		clickLoad("#login-submit"),
		chromedp.WaitVisible(chromedp.CSS(landing)),
	)
}

// TestConsoleInChromium drives the operator's daily tasks in a real
// browser against the real binary: log in, hold and release a queued
// message, add an account, check a domain's DNS records (a DNS server on
// loopback), then a user changes the password and turns on a vacation
// reply and sees the Apple profile's link on the set-up page.
// Screenshots are kept (screenshotDir).
func TestConsoleInChromium(t *testing.T) {
	dnsSrv := dnstest.Start(t,
		"remote.test. 60 IN MX 10 mx.remote.test.", "mx.remote.test. 60 IN A 127.0.0.1",
		"localhost. 60 IN MX 10 localhost.", `localhost. 60 IN TXT "v=spf1 mx -all"`)
	closed := mgtest.FreeAddr(t) // nothing listens: delivery to remote.test is deferred
	srv := consoleServer(t, "", mgtest.Options{DNS: dnsSrv.Addr, Delivery: fmt.Sprintf("  port: %s\n", portOf(closed)), Protocols: []string{"imaps"}})
	id := submit(t, srv, consoleUser, consoleUserPass, consoleUser, "someone@remote.test", []byte("Subject: held in the console\r\n\r\nhello\r\n"))
	srv.WaitLog("msg=deferred msgid=" + id)
	base := "http://" + srv.Addr["http"]
	ctx := newChromium(t)

	run(t, ctx, "admin login", loginSteps(base, consoleAdmin, consoleAdminPass, "#queue-size"), shot(t, "overview"))
	var held, released string
	run(t, ctx, "hold and release",
		chromedp.Navigate(base+"/admin/messages?state=deferred"),
		chromedp.WaitVisible(chromedp.CSS("#queue")), shot(t, "queue"),
		clickLoad(`a.msg[href$="`+id+`"]`),
		chromedp.WaitVisible(chromedp.CSS("#hold")),
		clickLoad("#hold"),
		chromedp.WaitVisible(chromedp.CSS("#release")),
		textInto("#held", &held), shot(t, "message-held"),
		clickLoad("#release"),
		chromedp.WaitVisible(chromedp.CSS("#hold")),
		textInto("#held", &released),
	)
	if !strings.HasPrefix(held, "held") || released != "active" {
		t.Errorf("state after hold %q, after release %q", held, released)
	}
	srv.WaitLog("msg=held msgid=" + id)
	srv.WaitLog("msg=released msgid=" + id)

	submitFlash(t, ctx, "add an account", "#add", "carol@localhost added", "account-added",
		chromedp.Navigate(base+"/admin/accounts"),
		chromedp.WaitVisible(chromedp.CSS("#new-address")),
		chromedp.SendKeys(chromedp.CSS("#new-address"), "carol@localhost"),
		chromedp.SendKeys(chromedp.CSS("#new-password"), "carol-pass-2026"),
	)
	if out, _ := srv.Run("", "user", "list", "-config", srv.ConfigPath); !strings.Contains(out, "carol@localhost") {
		t.Errorf("carol not in `mailgate user list`:\n%s", out)
	}
	submitFlash(t, ctx, "disable the new account", "#toggle", "logins disabled", "account-disabled")

	var summary, checks string
	run(t, ctx, "DNS check",
		chromedp.Navigate(base+"/admin/domains"),
		chromedp.WaitVisible(chromedp.CSS("#domains")),
		clickLoad("#domains a.check"),
		chromedp.WaitVisible(chromedp.CSS("#summary")),
		textInto("#summary", &summary),
		textInto("#checks", &checks), shot(t, "dns-check"),
	)
	if !strings.Contains(summary, "to publish or fix") {
		t.Errorf("DNS summary %q, want failures (no DKIM, DMARC, SRV in the test DNS)", summary)
	}
	for _, want := range []string{"pass\tlocalhost.\tMX", "pass\tlocalhost.\tTXT\tv=spf1 mx -all", "FAIL: MISSING\t_dmarc.localhost.\tTXT"} {
		if !strings.Contains(checks, want) {
			t.Errorf("DNS check table lacks %q:\n%s", want, checks)
		}
	}
	run(t, ctx, "config page", chromedp.Navigate(base+"/admin/config"), chromedp.WaitVisible(chromedp.CSS("#config-check")), shot(t, "config"))

	userSteps(t, srv, base)
}

// userSteps: a user changes the password, logs in with the new one, and
// turns on a vacation reply (stored where ManageSieve keeps scripts).
func userSteps(t *testing.T, srv *mgtest.Server, base string) {
	ctx := newChromium(t)
	newPass := "user-new-pass-99"
	submitFlash(t, ctx, "user changes the password", "#change", "Password changed", "user-password",
		loginSteps(base, consoleUser, consoleUserPass, "#password-form"),
		chromedp.SendKeys(chromedp.CSS("#current"), consoleUserPass),
		chromedp.SendKeys(chromedp.CSS("#new"), newPass),
		chromedp.SendKeys(chromedp.CSS("#again"), newPass),
	)
	var scripts string
	run(t, ctx, "log in again and set a vacation reply",
		clickLoad(`form.logout button`),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		loginSteps(base, consoleUser, newPass, "#password-form"),
		chromedp.Navigate(base+"/account/sieve"),
		chromedp.WaitVisible(chromedp.CSS("#vacation-message")),
		chromedp.SendKeys(chromedp.CSS("#vacation-subject"), "Away"),
		chromedp.SendKeys(chromedp.CSS("#vacation-message"), `Back on Monday; "urgent" mail to ops@localhost.`),
		clickLoad("#vacation-on"),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
		textInto("#scripts", &scripts), shot(t, "user-vacation"),
	)
	if !strings.Contains(scripts, "vacation\tactive") {
		t.Errorf("scripts table after the vacation form:\n%s", scripts)
	}
	var secret, servers string
	run(t, ctx, "API key and set-up",
		chromedp.Navigate(base+"/account/keys"),
		chromedp.WaitVisible(chromedp.CSS("#key-name")),
		chromedp.SendKeys(chromedp.CSS("#key-name"), "billing app"),
		clickLoad("#key-add"),
		chromedp.WaitVisible(chromedp.CSS("#secret")),
		textInto("#secret", &secret), shot(t, "user-key"),
		chromedp.Navigate(base+"/account/setup"),
		chromedp.WaitVisible(chromedp.CSS("#servers")),
		chromedp.WaitVisible(chromedp.CSS("#apple-profile")),
		textInto("#servers", &servers), shot(t, "user-setup"),
	)
	if !strings.HasPrefix(secret, "mgk_") {
		t.Errorf("new key shown as %q", secret)
	}
	if !strings.Contains(servers, "sending (SMTP)\tlocalhost\t"+portOf(srv.Addr["submission"])+"\tSTARTTLS\t"+consoleUser) {
		t.Errorf("set-up table:\n%s", servers)
	}
	src, err := os.ReadFile(filepath.Join(srv.DataDir, "sieve", consoleUser, "vacation.sieve"))
	if err != nil || !strings.Contains(string(src), `vacation :days 7 :subject "Away" "Back on Monday; \"urgent\" mail`) {
		t.Errorf("vacation script on disk: %v\n%s", err, src)
	}
}
