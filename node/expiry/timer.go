package expiry

import (
	"fmt"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/wire"
)

// Check refuses a timer outside the API's range: 0 (off) or wire.MinDisappear to
// wire.MaxDisappear seconds.
func Check(secs int64) error {
	if secs != 0 && (secs < wire.MinDisappear || secs > wire.MaxDisappear) {
		return api.Errorf(api.ErrBadRequest, "disappear_after_s must be 0 (off) or %d to %d seconds", wire.MinDisappear, wire.MaxDisappear)
	}
	return nil
}

// Start gives msg, sent at at (Unix ms) under a timer of secs (0: none), its timer and
// expiry: the sender's copy expires secs after it was sent.
func Start(msg *api.Message, secs, at int64) {
	if secs <= 0 {
		return
	}
	exp := at + secs*1000
	msg.DisappearAfterS, msg.ExpiresAt = secs, &exp
}

// StartRead starts the timer of a received message msg just read at now (Unix ms); it
// reports whether it did (a message without a timer, or one already running, is left).
// The expiry is stored with the message, so it keeps running across restarts.
func StartRead(msg *api.Message, now int64) bool {
	if msg.DisappearAfterS <= 0 || msg.ExpiresAt != nil {
		return false
	}
	Start(msg, msg.DisappearAfterS, now)
	return true
}

// ExpiredOnArrival reports whether a message sent at sentAt under a timer of secs had
// expired by now (a member back after the expiry never shows it).
func ExpiredOnArrival(now, sentAt, secs int64) bool {
	return secs > 0 && sentAt+secs*1000 <= now
}

// Wipe empties every content field of msg and marks it deleted (an expired message, or
// one that arrived expired, kept by id only).
func Wipe(msg *api.Message) {
	msg.Deleted, msg.Body, msg.ReplyTo, msg.EditedAt = true, "", nil, nil
	msg.Reactions, msg.Attachments = map[string][]string{}, []api.Attachment{}
}

// Line is the system line of a timer change by name (secs 0: off).
func Line(name string, secs int64) string {
	if name == "" {
		name = "Someone"
	}
	if secs == 0 {
		return name + " turned off disappearing messages"
	}
	return name + " set messages to disappear after " + DurationWords(secs)
}

// DurationWords says a timer in words: "30 seconds", "1 day", "1 week", "90 days".
func DurationWords(secs int64) string {
	for _, u := range []struct {
		n    int64
		name string
	}{{7 * 86400, "week"}, {86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}} {
		if secs%u.n == 0 && secs >= u.n {
			n := secs / u.n
			if u.n == 7*86400 && n > 4 {
				continue // 90 days reads better than 12.86 weeks; 8 weeks as 56 days
			}
			if n == 1 {
				return "1 " + u.name
			}
			return fmt.Sprintf("%d %ss", n, u.name)
		}
	}
	return fmt.Sprintf("%d seconds", secs)
}
