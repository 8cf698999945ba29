//! The AI task assistant's pure logic, natively tested: the Chat Completions wire format and
//! its streamed form, the agents' instructions (orchestrator, Urdu specialist, the user's time
//! zone), the history budget, the `/api/chat` request and the ChatKit protocol's shapes.
//! The `assistant` component does the I/O (PostgreSQL, the model over outbound HTTP).

pub mod agent;
pub mod chatkit;
pub mod history;
pub mod message;
pub mod sse;
pub mod wire;
