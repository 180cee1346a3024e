//! KCL-style lease-based consumption (in progress).
