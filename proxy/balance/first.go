package balance

// first always takes the first candidate: the first live server in
// configuration order (an active/standby pair without the backup flag).
type first struct{}

func newFirst([]int) Policy { return first{} }

func (first) Pick(_ Pool, cand []int) int { return cand[0] }
