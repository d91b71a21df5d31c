package grouplog

import "testing"

// A group name is shown to every member: one that would show as another text (an
// override, an isolate, a control character) is refused, as are empty and oversized ones;
// ordinary names in any script pass, trimmed.
func TestCheckNameRefusesWhatSpoofs(t *testing.T) {
	for _, bad := range []string{"", "   ", "\u202eevil", "a\x00b", "x\u2066y", "tab\there", string(make([]byte, 129))} {
		if _, err := CheckName(bad); err == nil {
			t.Errorf("CheckName(%q) took it", bad)
		}
	}
	for in, want := range map[string]string{" Family ": "Family", "Équipe – 2026": "Équipe – 2026", "شلة": "شلة", "家族 👪": "家族 👪"} {
		if got, err := CheckName(in); err != nil || got != want {
			t.Errorf("CheckName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
