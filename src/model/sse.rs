//! Server-sent events over a reqwest byte stream (skeleton: the model helper replaces this file).
