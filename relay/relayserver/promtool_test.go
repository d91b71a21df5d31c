package relayserver_test

import (
	"bytes"
	"os/exec"
	"testing"
)

// TestMetricsPassPromtool: the relay's /metrics (mailbox, circuit and cluster series) is
// clean for `promtool check metrics` (naming, help, units, counters ending in _total).
func TestMetricsPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed (Debian package prometheus; .ci/run installs it): cannot check the relay's metrics")
	}
	cfg := testConfig()
	cfg.Circuit.Enabled = true
	r := startRelay(t, cfg)
	checkPromtool(t, promtool, metricsText(t, r))
}

func checkPromtool(t *testing.T, promtool, text string) {
	t.Helper()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewBufferString(text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
