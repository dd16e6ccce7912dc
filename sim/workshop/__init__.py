"""The workshop floor: helpers for the lessons, beside the simulator rather than in it.

- `power`: how big and how long a canary must be (the two-proportion z-test's power, sample size).
- `latency`: what a latency fault does to the mean users feel against its median and tail.
- `evidence`: claims about simulated results, each backed by an interval.
"""
