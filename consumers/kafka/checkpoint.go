package kafka

import "github.com/jetflow-dev/jetflow/stage"

var (
	_ stage.CheckpointComparer = (*Consumer)(nil)
	_ stage.BadRecordCounter   = (*Consumer)(nil)
)

// CompareCheckpoints implements stage.CheckpointComparer: a lane's checkpoint is the offset it resumes at, so a
// stream whose state store was lost resumes after the newest partition its destination holds.
func (c *Consumer) CompareCheckpoints(a, b string) (int, error) {
	return stage.CompareIntCheckpoints(a, b)
}
