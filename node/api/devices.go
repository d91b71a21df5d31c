package api

// DeviceLink is POST /v1/devices/link (docs/API.md §8): a single-use link for a new
// device, its QR code, and when it expires (Unix ms).
type DeviceLink struct {
	Link      string `json:"link"`
	QRSVG     string `json:"qr_svg"`
	ExpiresAt int64  `json:"expires_at"`
}

// Device is one active device of the account (GET /v1/devices).
type Device struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Current  bool   `json:"current"`
	Primary  bool   `json:"primary"`   // extension: the device that links and revokes
	LinkedAt int64  `json:"linked_at"` // Unix ms
	LastSeen *int64 `json:"last_seen"` // Unix ms; null when unknown
}

// DeviceList is GET /v1/devices.
type DeviceList struct {
	Devices []Device `json:"devices"`
}
