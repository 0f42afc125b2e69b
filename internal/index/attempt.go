package index

// Attempt is one row of attempts.jsonl (SPEC §5.2): an authenticated episode
// PUT and its outcome. Status is 0 for an upload that was aborted without an
// answer.
type Attempt struct {
	TS     string `json:"ts"`
	Host   string `json:"host"`
	ID     string `json:"id"`
	Status int    `json:"status"`
	Error  string `json:"error"`
	Commit string `json:"commit"`
	Bytes  int64  `json:"bytes"`
	// Agent is the client's User-Agent, "cis490-shipper/<version>" from a
	// shipper (SPEC §16); absent in rows written before it was recorded.
	Agent string `json:"agent,omitempty"`
}
