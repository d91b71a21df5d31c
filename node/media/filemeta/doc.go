// Package filemeta reads and rewrites what an attachment's bytes say about it, as pure
// functions over readers: its real type (Sniff), its metadata (Strip, Rewrite), its
// orientation, its thumbnail, its duration, and the name and type a UI may show
// (CleanName, ChooseMIME). node/media calls it before a file is recorded; it stores
// nothing itself. testdata/ holds image fixtures that carry metadata ("petrel-secret")
// which must not survive (testdata/gen.go writes them).
//
// # Images
//
// A file whose bytes are JPEG, PNG, GIF or WebP (sniffed, whatever its claimed type) is
// rewritten before it is recorded: a JPEG whose EXIF orientation is not 1 is decoded,
// turned upright and re-encoded (quality 90); every other image is copied without its
// metadata, pixels untouched. Removed: JPEG APP1 (EXIF, XMP), APP13 (IPTC) and every other
// APPn except JFIF/JFXX (APP0), ICC profiles (APP2) and Adobe (APP14), comments, and
// anything after EOI (multi-picture trailers with their own EXIF); PNG eXIf, tEXt, iTXt,
// zTXt and tIME chunks and anything after IEND; GIF comment extensions and application
// extensions other than NETSCAPE2.0/ANIMEXTS1.0 (XMP); WebP EXIF and XMP chunks (and their
// VP8X flags). Orientation is applied for JPEG only. The thumbnail is a JPEG (quality 80)
// at most ThumbnailMax (320) pixels on the long side, stored as its own media id; width and
// height are the upright image's. Images over Options.MaxPixels are stripped but not
// decoded (no thumbnail, orientation not applied). An image that does not parse is kept as
// application/octet-stream, and a claimed image type that the bytes are not becomes
// application/octet-stream too: a UI renders inline only what the bytes are.
//
// # Duration
//
// Only where it is cheap: MP4/M4A/MOV (mvhd duration ÷ timescale), WAV (data chunk size ÷
// byte rate), Ogg Opus (last page's granule position − pre-skip, at 48 kHz). Not WebM,
// MP3, FLAC or Ogg Vorbis.
package filemeta
