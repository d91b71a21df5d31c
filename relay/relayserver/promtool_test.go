package relayserver_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/relay/clusterstore"
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

	// A cluster process adds its JetStream series and reports them on /healthz.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	route := l.Addr().String()
	l.Close()
	cfg.Cluster = &clusterstore.Config{Name: "metrics", Listen: route, Replicas: 1}
	rc := startRelay(t, cfg)
	m := metricsText(t, rc)
	for _, want := range []string{"petrel_relay_cluster_up 1", "petrel_relay_cluster_connected 1", "petrel_relay_cluster_mail_leader 1"} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("cluster metrics lack %q", want)
		}
	}
	checkPromtool(t, promtool, m)
	resp, err := http.Get(rc.info.Metrics + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "ok\ncluster server=") {
		t.Errorf("cluster healthz: %d %q", resp.StatusCode, body)
	}
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
