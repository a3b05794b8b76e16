package policy

import (
	"context"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/state"
)

// Reservation is the outcome of reserving a decision's charges.
type Reservation struct {
	// Admitted is true when every charge fit; ID then names the
	// reservation to commit or refund.
	Admitted bool
	ID       string
	// Refundable: some charge is given back when the call fails
	// (refund_on_failure); the others stay counted on a refund.
	Refundable bool
	// Denied is the first charge that did not fit, when not Admitted, and
	// RetryAfter when it will.
	Denied     *Charge
	RetryAfter time.Duration
}

// Reserve reserves every charge of a decision in store, all or none: the
// one way both the gate and `tollgate test` count a call.
func Reserve(ctx context.Context, store state.Store, now time.Time, charges []Charge) (Reservation, error) {
	sc := make([]state.Charge, len(charges))
	var out Reservation
	for i := range charges {
		sc[i] = charges[i].Charge
		sc[i].KeepOnRefund = !charges[i].RefundOnFailure
		out.Refundable = out.Refundable || charges[i].RefundOnFailure
	}
	res, err := store.Reserve(ctx, now, sc)
	if err != nil {
		return Reservation{}, err
	}
	if !res.Admitted {
		out.Denied, out.RetryAfter = &charges[res.Denied], res.RetryAfter
		return out, nil
	}
	out.Admitted, out.ID = true, res.Reservation
	return out, nil
}
