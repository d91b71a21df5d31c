package webui_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// TestWebUIDevices drives Settings → Devices against real nodes: the one device listed as
// this device and primary; "Link a new device" shows a petrel-device: link, its QR code and
// its expiry; a real node linked with that link (node.InitLinked) appears in the list;
// revoking it asks first, keeps it when cancelled and revokes it when confirmed (the node's
// GET /v1/devices agrees), and the revoked laptop's own UI shows "This device was removed
// from the account". axe-core checks the card and the confirmation, light and dark.
func TestWebUIDevices(t *testing.T) {
	t.Parallel()
	src := axeSource(t)
	browser := startBrowser(t)
	art := artifactDir(t)
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	a := newPage(t, browser, "alice's browser")
	login(t, a, alice)
	goTo(a, "#/settings")
	a.wait("one device", "document.querySelectorAll('#devices-card .device').length === 1")
	if txt := a.str("document.querySelector('#devices-card .device').textContent"); !strings.Contains(txt, "this device") || !strings.Contains(txt, "primary") {
		t.Fatalf("the only device reads %q", txt)
	}
	if n := a.str("String(document.querySelectorAll('#devices-card .device button').length)"); n != "0" {
		t.Fatalf("the current device offers %s revoke buttons", n)
	}

	a.click("#device-link-btn")
	a.wait("the link, its QR code and expiry", "document.querySelector('#device-link')?.value.startsWith('petrel-device:') && document.querySelector('.device-link img') && /^Works once, for (9|10) min/.test(document.querySelector('#device-link-expiry').textContent)")
	link := a.str("document.querySelector('#device-link').value")
	a.eval("document.querySelector('#devices-card').scrollIntoView()", nil)
	a.shot(art, "settings-devices-link")
	for _, scheme := range []string{"light", "dark"} {
		a.scheme(scheme)
		axeCheck(t, a, src, "settings → devices, link ("+scheme+")")
	}

	laptop, _ := nodetest.StartLinked(t, "laptop", link)
	lapDevs, err := laptop.Client.Devices(ctx)
	if err != nil || len(lapDevs) != 2 {
		t.Fatalf("the laptop lists %+v %v", lapDevs, err)
	}
	var lapID string
	for _, d := range lapDevs {
		if d.Current {
			lapID = d.ID
		}
	}
	// The open card notices the new device by itself: the spent link goes, the laptop is listed.
	row := `#devices-card .device[data-id="` + lapID + `"]`
	a.wait("the laptop in the list, the link gone", "document.querySelectorAll('#devices-card .device').length === 2 && document.querySelector('"+row+"')?.textContent.includes('laptop') && document.querySelector('.device-link').hidden && document.querySelector('#devices-card .form-status.ok')?.textContent === 'Linked laptop.'")
	a.eval("document.querySelector('#devices-card').scrollIntoView()", nil)
	a.shot(art, "settings-devices-two")

	// The laptop's own UI, open while it is revoked, shows no banner yet.
	l := newPage(t, browser, "the laptop's browser")
	login(t, l, laptop)
	l.wait("the laptop's shell", "document.querySelector('.revoked') !== null")
	if v := l.str("String(document.querySelector('.revoked').hidden)"); v != "true" {
		t.Fatalf("an active device shows the revoked banner (hidden=%s)", v)
	}

	a.click(row + " button[data-id]")
	a.wait("the confirmation", "document.querySelector('dialog[open]')?.textContent.includes('Revoke laptop?')")
	for _, scheme := range []string{"dark", "light"} {
		a.scheme(scheme)
		axeCheck(t, a, src, "revoke device ("+scheme+")")
	}
	a.click("dialog[open] button[data-value=false]")
	a.wait("the confirmation closed", "!document.querySelector('dialog[open]')")
	if ds, err := alice.Client.Devices(ctx); err != nil || len(ds) != 2 {
		t.Fatalf("after a cancelled revoke the node lists %+v %v", ds, err)
	}
	a.click(row + " button[data-id]")
	a.wait("the confirmation", "document.querySelector('dialog[open]')")
	a.click("dialog[open] button[data-value=true]")
	a.wait("revoked", "document.querySelectorAll('#devices-card .device').length === 1 && document.querySelector('#devices-card .form-status.ok')?.textContent === 'Revoked.'")
	if ds, err := alice.Client.Devices(ctx); err != nil || len(ds) != 1 || !ds[0].Current {
		t.Fatalf("after the revoke the node lists %+v %v", ds, err)
	}
	// The revoked laptop's UI says so at once (the device_revoked event), and after a reload
	// (GET /v1/me).
	wait.For(t, "the laptop knows it is revoked", func() error {
		me, err := laptop.Client.Me(ctx)
		if err != nil || me.Device.RevokedAt == nil {
			return fmt.Errorf("%+v %v", me.Device, err)
		}
		return nil
	})
	banner := "document.querySelector('.revoked')?.hidden === false && document.querySelector('.revoked').textContent === 'This device was removed from the account'"
	l.wait("the laptop's banner", banner)
	l.shot(art, "device-revoked-banner")
	axeCheck(t, l, src, "revoked banner")
	l.eval("location.reload()", nil)
	l.wait("the laptop's banner after a reload", banner)
	a.viewport(390, 844)
	a.eval("document.querySelector('#devices-card').scrollIntoView()", nil)
	a.shot(art, "settings-devices-phone")
	if p := a.problems(); len(p) > 0 {
		t.Fatalf("the page reported problems: %v", p)
	}
}
