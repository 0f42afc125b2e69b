package wire

// JoinRequest is the body of POST /v1/join (SPEC §14). CSR is absent for a
// token-only join to a receiver without a fleet CA.
type JoinRequest struct {
	Host string  `json:"host"`
	CSR  *string `json:"csr,omitempty"`
}

// JoinReply is the 201 answer to a join. The certificate fields are absent
// when the receiver has no fleet CA.
type JoinReply struct {
	Host       string `json:"host"`
	Token      string `json:"token"`
	Cert       string `json:"cert,omitempty"`
	CA         string `json:"ca,omitempty"`
	NotAfter   string `json:"not_after,omitempty"`
	RenewAfter string `json:"renew_after,omitempty"`
}

// RenewRequest is the body of POST /v1/certs/renew: a CSR for a new key.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// RenewReply is the 200 answer to a renewal.
type RenewReply struct {
	Cert       string `json:"cert"`
	CA         string `json:"ca"`
	NotAfter   string `json:"not_after"`
	RenewAfter string `json:"renew_after"`
}
