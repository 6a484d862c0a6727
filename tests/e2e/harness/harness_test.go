package harness

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestDash0StandIn checks the stand-in itself: OTLP records sent by the SDK
// client come back from its file with their attributes, across a restart.
func TestDash0StandIn(t *testing.T) {
	d := StartDash0(t, Dash0Options{})
	ctx := context.Background()
	job := Job{MachineID: "m1", JobID: "j1", WorkflowID: "w1"}
	c := NewClient(t, job, ClientOptions{Endpoint: d.Endpoint()})
	for i := range 3 {
		c.Emit(ctx, Rec{ID: fmt.Sprintf("r%d", i), Body: "hello", Attrs: map[string]string{"k": "v"}})
	}
	d.Down()
	d.Start()
	c.Emit(ctx, Rec{ID: "r3", Body: "after restart"})
	if n := len(c.Accepted()); n != 4 {
		t.Fatalf("accepted %d, want 4 (refused %v)", n, c.Errors())
	}
	err := Eventually(ctx, 20*time.Second, 100*time.Millisecond, func() error {
		recs, err := d.Records()
		if err != nil {
			return err
		}
		by := ByAttr(recs, IDAttr)
		for i := range 4 {
			if len(by[fmt.Sprintf("r%d", i)]) != 1 {
				return fmt.Errorf("r%d: %d copies of %d records", i, len(by[fmt.Sprintf("r%d", i)]), len(recs))
			}
		}
		r := by["r0"][0]
		for k, want := range map[string]string{"machine.id": "m1", "job.id": "j1", "emerge.job_id": "j1", "emerge.workflow_id": "w1", "k": "v", "service.name": "comfyui"} {
			if got, _ := r.Lookup(k); got != want {
				return fmt.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	u := d.Usage()
	if u.PeakRSSKiB == 0 || d.Starts() != 2 {
		t.Errorf("usage %+v starts %d", u, d.Starts())
	}
}

// TestDash0StandInTLS: the TLS variant starts and serves.
func TestDash0StandInTLS(t *testing.T) {
	d := StartDash0(t, Dash0Options{TLS: true})
	if d.CAFile == "" || !d.Running() {
		t.Fatal("TLS stand-in not running")
	}
}
