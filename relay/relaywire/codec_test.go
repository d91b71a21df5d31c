package relaywire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
)

// decoders maps a vector's decoder name to a function that parses a frame body and
// re-encodes what it parsed, plus a readable view of the parsed value.
var decoders = map[string]func(body []byte) (view string, again []byte, err error){
	"deposit": func(b []byte) (string, []byte, error) {
		d, err := ParseDeposit(b)
		view := fmt.Sprintf("mailbox=%x envelope=%x", d.Mailbox, d.Envelope)
		if d.ExpiresAt != 0 {
			view += fmt.Sprintf(" expires_at=%d", d.ExpiresAt)
		}
		return view, AppendDeposit(nil, d), err
	},
	"multi_deposit": func(b []byte) (string, []byte, error) {
		d, err := ParseMultiDeposit(b)
		var sb strings.Builder
		for _, r := range d.Recipients {
			fmt.Fprintf(&sb, "mailbox=%x header=%x ", r.Mailbox, r.Header)
		}
		fmt.Fprintf(&sb, "body=%x", d.Body)
		if d.ExpiresAt != 0 {
			fmt.Fprintf(&sb, " expires_at=%d", d.ExpiresAt)
		}
		return sb.String(), AppendMultiDeposit(nil, d), err
	},
	"multi_result": func(b []byte) (string, []byte, error) {
		codes, err := ParseMultiResult(b)
		return fmt.Sprintf("codes=%v", codes), AppendMultiResult(nil, codes), err
	},
	"result": func(b []byte) (string, []byte, error) {
		r, err := ParseResult(b)
		return fmt.Sprintf("code=%s message=%q", r.Code, r.Message), AppendResult(nil, r), err
	},
	"auth": func(b []byte) (string, []byte, error) {
		p, err := ParseAuth(b)
		if err != nil {
			return "", nil, err
		}
		return "identity=" + p.String(), AppendAuth(nil, p), nil
	},
	"challenge": func(b []byte) (string, []byte, error) {
		c, err := ParseChallenge(b)
		return fmt.Sprintf("challenge=%x", c), AppendChallenge(nil, c), err
	},
	"proof": func(b []byte) (string, []byte, error) {
		p, err := ParseProof(b)
		return fmt.Sprintf("register=%v signature=%x invite=%q", p.Register, p.Signature, p.Invite), AppendProof(nil, p), err
	},
	"fetch": func(b []byte) (string, []byte, error) {
		n, err := ParseFetch(b)
		return fmt.Sprintf("max=%d", n), AppendFetch(nil, n), err
	},
	"mail": func(b []byte) (string, []byte, error) {
		m, err := ParseMail(b)
		return fmt.Sprintf("id=%d deposited_at=%d envelope=%x", m.ID, m.DepositedAt, m.Envelope), AppendMail(nil, m), err
	},
	"fetch_end": func(b []byte) (string, []byte, error) {
		more, err := ParseFetchEnd(b)
		return fmt.Sprintf("more=%v", more), AppendFetchEnd(nil, more), err
	},
	"ack": func(b []byte) (string, []byte, error) {
		ids, err := ParseAck(b)
		return fmt.Sprintf("ids=%v", ids), AppendAck(nil, ids), err
	},
	"watch": func(b []byte) (string, []byte, error) {
		return "watch", AppendWatch(nil), ParseWatch(b)
	},
	"notice": func(b []byte) (string, []byte, error) {
		n, err := ParseNotice(b)
		return fmt.Sprintf("waiting=%d", n), AppendNotice(nil, n), err
	},
	"upload": func(b []byte) (string, []byte, error) {
		u, err := ParseUpload(b)
		if err != nil {
			return "", nil, err
		}
		return fmt.Sprintf("spk=%d last_resort=%d one_time=%d pq_one_time=%d",
			u.SignedPrekey.ID(), u.LastResort.ID(), len(u.OneTime), len(u.PQOneTime)), AppendUpload(nil, u), nil
	},
	"remaining": func(b []byte) (string, []byte, error) {
		r, err := ParseRemaining(b)
		return fmt.Sprintf("one_time=%d pq_one_time=%d", r.OneTime, r.PQOneTime), AppendRemaining(nil, r), err
	},
	"count": func(b []byte) (string, []byte, error) {
		return "count", AppendCount(nil), ParseCount(b)
	},
	"get_bundle": func(b []byte) (string, []byte, error) {
		m, err := ParseGetBundle(b)
		return fmt.Sprintf("mailbox=%x", m), AppendGetBundle(nil, m), err
	},
	"bundle": func(b []byte) (string, []byte, error) {
		bn, err := ParseBundle(b)
		if err != nil {
			return "", nil, err
		}
		_, opk := bn.OneTimePrekey()
		return fmt.Sprintf("identity=%s spk=%d pq=%d(%s) opk=%v", bn.Identity(), bn.SignedPrekey().ID(),
			bn.PQPrekey().ID(), bn.PQPrekey().Kind(), opk), AppendBundle(nil, bn.Marshal()), nil
	},
	// frame reads every frame of the input and re-writes them.
	"frame": func(b []byte) (string, []byte, error) {
		r := bufio.NewReader(bytes.NewReader(b))
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		var view []string
		for {
			body, err := ReadFrame(r, nil, 0)
			if err != nil {
				if err.Error() == "EOF" {
					break
				}
				return "", nil, err
			}
			view = append(view, hex.EncodeToString(body))
			if err := WriteFrame(w, body); err != nil {
				return "", nil, err
			}
		}
		w.Flush()
		return fmt.Sprintf("frames=%v", view), out.Bytes(), nil
	},
}
