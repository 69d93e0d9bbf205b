package batch

// Ref is one entry of a batch listing, GET /v1/regions/{region}/batches
// (docs/api.md). The server writes it and exposureclient reads it; SHA256
// lets a client check a batch fetched from a mirror before verifying its
// signature.
type Ref struct {
	ID            string `json:"id"`
	Region        string `json:"region"`
	Sequence      uint64 `json:"sequence"`
	PeriodStart   uint32 `json:"period_start"`
	PeriodMinutes uint32 `json:"period_minutes"`
	// Uploads was the upload count; servers of batch format version 2 do
	// not publish it (docs/api.md, "Holding and chaff").
	Uploads uint32 `json:"uploads,omitempty"`
	Entries uint32 `json:"entries"`
	Size    int    `json:"size"`
	SHA256  string `json:"sha256"`
	URL     string `json:"url"`
}

// Listing is the body of a batch listing.
type Listing struct {
	Region  string `json:"region,omitempty"`
	Batches []Ref  `json:"batches"`
}
