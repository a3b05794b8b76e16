package policy

// pinModes are the values of the top-level pins key: what Tollgate does
// with the definitions a server lists (package pins). off records nothing;
// record records them and flags changes; enforce also holds changed and
// new definitions until a person approves them.
var pinModes = []string{"off", "record", "enforce"}

// Pins returns the policy's pins mode ("off", "record" or "enforce"), or
// "" when the policy does not say: the command decides (tollgate run
// records, the gateway enforces).
func (p *Policy) Pins() string { return p.pins }
