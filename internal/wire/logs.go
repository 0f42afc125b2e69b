package wire

// Stable shipper log messages (SPEC §8): the doctor classifies the journal by
// them, so they never change.
const (
	LogShipped       = "shipped"
	LogShipDuplicate = "shipped (duplicate)"
	LogShipRejected  = "ship rejected"             // fatal: 400, 409, 412, 413
	LogShipFailed    = "ship failed, will retry"   // transient
	LogShipAuth      = "ship refused: credentials" // 401, 403
)
