"""What reviewers see and do: the queue, evidence, decisions bound to examples, shared queues, access."""
