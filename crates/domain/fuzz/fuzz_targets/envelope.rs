//! CloudEvents envelopes: `EventEnvelope::parse` on arbitrary bytes never panics; what it
//! accepts serialises to bytes that parse back to the same envelope, and its accessors
//! (task id, task snapshot, realtime payload) do not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use todo_domain::event::EventEnvelope;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = EventEnvelope::parse(data) else {
        return;
    };
    let bytes = envelope.to_bytes();
    let again = EventEnvelope::parse(&bytes)
        .unwrap_or_else(|e| panic!("{e:?}: {}", String::from_utf8_lossy(&bytes)));
    assert_eq!(again.to_json(), envelope.to_json());
    let _ = envelope.task_id();
    let _ = envelope.task_json();
    let _ = envelope.task();
    let _ = envelope.realtime_payload();
});
