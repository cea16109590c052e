//! The `KvStore` conformance suite (feature `testkit`): written by the storage work.
