//! Kinesis API client and KPL-style producer (in progress).
