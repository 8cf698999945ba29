//! Server-Sent Events: reading the model's streamed answer (the `data:` of each event, fed in
//! chunks that may split lines and characters anywhere) and writing the ChatKit stream.

/// Splits a byte stream into the data of its events (WHATWG `text/event-stream` rules for the
/// `data` field: lines joined by `\n`, an optional space after the colon, comments and other
/// fields ignored, an event dispatched at a blank line).
#[derive(Debug, Default)]
pub struct SseDecoder {
    pending: Vec<u8>,
    data: Option<String>,
}

impl SseDecoder {
    /// Feeds bytes; returns the data of every event they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..line.len() - 1]);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            self.line(line, &mut events);
        }
        events
    }

    /// The data of a last event not followed by a blank line (a stream that ended abruptly).
    pub fn finish(mut self) -> Option<String> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            let line = String::from_utf8_lossy(&rest).into_owned();
            let mut events = Vec::new();
            self.line(line.trim_end_matches('\r'), &mut events);
        }
        self.data.take()
    }

    fn line(&mut self, line: &str, events: &mut Vec<String>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                events.push(data);
            }
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            }
        }
    }
}

/// One unnamed event carrying `json` (one line: JSON text never contains a raw newline).
pub fn data_frame(json: &serde_json::Value) -> Vec<u8> {
    format!("data: {json}\n\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn events_are_split_at_blank_lines_and_fields_parsed() {
        let mut decoder = SseDecoder::default();
        let events = decoder
            .push(b": comment\ndata: {\"a\":1}\n\ndata:x\r\ndata: y\r\n\r\nevent: e\nid: 3\n");
        assert_eq!(events, vec!["{\"a\":1}".to_string(), "x\ny".to_string()]);
        assert_eq!(decoder.push(b"data: [DONE]\n"), Vec::<String>::new());
        assert_eq!(decoder.finish(), Some("[DONE]".to_string()));
    }

    proptest! {
        /// However the bytes are cut, the same events come out (multi-byte text included).
        #[test]
        fn chunking_does_not_change_the_events(
            texts in proptest::collection::vec("[a-zA-Z0-9 ےہںٹ{}\":,]{0,20}", 1..6),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let stream: String = texts.iter().map(|t| format!("data: {t}\n\n")).collect();
            let bytes = stream.as_bytes();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut decoder = SseDecoder::default();
            let mut events = Vec::new();
            let mut start = 0;
            for point in points.into_iter().chain([bytes.len()]) {
                events.extend(decoder.push(&bytes[start..point]));
                start = point;
            }
            prop_assert_eq!(events, texts);
        }
    }
}
