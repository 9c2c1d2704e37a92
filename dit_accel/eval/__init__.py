"""The `dit-accel eval` run: each method setting against the stock model on real prompts (`harness`),
its metrics (`metrics`) and report files (`report`)."""
