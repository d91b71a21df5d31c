package ratchet

import (
	"fmt"
	"math/bits"
)

// paddedSize returns the padded size of a plaintext of n bytes: n plus the
// 0x80 marker, rounded up to minPadded, and above that to a Padmé size
// (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
// Communication with PURBs", 2019): at most ~12% overhead, and only
// O(log log n) bits of the length leak.
func paddedSize(n int) int {
	l := n + 1
	if l <= minPadded {
		return minPadded
	}
	e := bits.Len(uint(l)) - 1 // floor(log2 l)
	s := bits.Len(uint(e))     // floor(log2 e) + 1
	mask := 1<<(e-s) - 1
	return (l + mask) &^ mask
}

// unpad strips ISO/IEC 7816-4 padding: the last non-zero byte must be 0x80.
// It runs on authenticated data only, so it need not be constant time.
func unpad(p []byte) ([]byte, error) {
	for i := len(p) - 1; i >= 0; i-- {
		switch p[i] {
		case 0:
			continue
		case 0x80:
			return p[:i], nil
		}
		break
	}
	return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
}
