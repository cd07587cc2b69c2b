//! Feishu's long-connection frame, `pbbp2.Frame` (proto2), encoded and decoded by hand: nine fields do not justify
//! a protobuf runtime in the guest. The layout is the one the official SDKs carry (lark-oapi 1.7.5,
//! `lark_oapi/ws/pb/pbbp2_pb2.py`):
//!
//! ```text
//! Header { required string key = 1; required string value = 2; }
//! Frame  { required uint64 SeqID = 1; required uint64 LogID = 2; required int32 service = 3; required int32 method = 4;
//!          repeated Header headers = 5; optional string payload_encoding = 6; optional string payload_type = 7;
//!          optional bytes payload = 8; optional string LogIDNew = 9; }
//! ```
//!
//! Every required field is written even when zero: Feishu's Node SDK refuses frames that lack one, and so may the
//! server. Decoding is bounded (frame size, header count) and skips unknown fields, as protobuf readers must.

/// `method` of a control frame (ping, pong).
pub const CONTROL: i32 = 0;
/// `method` of a data frame (event, card, and the client's ack).
pub const DATA: i32 = 1;

/// Larger frames are refused before parsing. Feishu splits payloads into parts well below this.
pub const MAX_FRAME: usize = 4 * 1024 * 1024;
/// Feishu sends about six headers; more than this is not a frame of its.
pub const MAX_HEADERS: usize = 64;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    pub seq_id: u64,
    pub log_id: u64,
    pub service: i32,
    pub method: i32,
    pub headers: Vec<(String, String)>,
    pub payload_encoding: Option<String>,
    pub payload_type: Option<String>,
    pub payload: Option<Vec<u8>>,
    pub log_id_new: Option<String>,
}

impl Frame {
    /// The first header with this key.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.payload.as_ref().map_or(0, Vec::len));
        varint_field(&mut out, 1, self.seq_id);
        varint_field(&mut out, 2, self.log_id);
        // int32 is encoded as a sign-extended 64-bit varint, as protobuf does for negatives.
        varint_field(&mut out, 3, self.service as i64 as u64);
        varint_field(&mut out, 4, self.method as i64 as u64);
        for (key, value) in &self.headers {
            let mut header = Vec::with_capacity(key.len() + value.len() + 4);
            bytes_field(&mut header, 1, key.as_bytes());
            bytes_field(&mut header, 2, value.as_bytes());
            bytes_field(&mut out, 5, &header);
        }
        if let Some(v) = &self.payload_encoding {
            bytes_field(&mut out, 6, v.as_bytes());
        }
        if let Some(v) = &self.payload_type {
            bytes_field(&mut out, 7, v.as_bytes());
        }
        if let Some(v) = &self.payload {
            bytes_field(&mut out, 8, v);
        }
        if let Some(v) = &self.log_id_new {
            bytes_field(&mut out, 9, v.as_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Frame, String> {
        if bytes.len() > MAX_FRAME {
            return Err(format!(
                "frame of {} bytes is over the {MAX_FRAME}-byte limit",
                bytes.len()
            ));
        }
        let mut frame = Frame::default();
        let mut seen = [false; 4];
        let mut reader = Reader { bytes, at: 0 };
        while !reader.done() {
            let (field, wire) = reader.key()?;
            match (field, wire) {
                (1..=4, 0) => {
                    let value = reader.varint()?;
                    seen[field as usize - 1] = true;
                    match field {
                        1 => frame.seq_id = value,
                        2 => frame.log_id = value,
                        3 => frame.service = value as i32,
                        _ => frame.method = value as i32,
                    }
                }
                (5, 2) => {
                    if frame.headers.len() == MAX_HEADERS {
                        return Err(format!("more than {MAX_HEADERS} headers"));
                    }
                    frame.headers.push(header(reader.bytes()?)?);
                }
                (6, 2) => frame.payload_encoding = Some(text(reader.bytes()?, "payload_encoding")?),
                (7, 2) => frame.payload_type = Some(text(reader.bytes()?, "payload_type")?),
                (8, 2) => frame.payload = Some(reader.bytes()?.to_vec()),
                (9, 2) => frame.log_id_new = Some(text(reader.bytes()?, "LogIDNew")?),
                (1..=9, _) => return Err(format!("field {field} has wire type {wire}")),
                _ => reader.skip(wire)?,
            }
        }
        if let Some(missing) = seen.iter().position(|s| !s) {
            let name = ["SeqID", "LogID", "service", "method"][missing];
            return Err(format!("required field {name} is missing"));
        }
        Ok(frame)
    }
}

fn header(bytes: &[u8]) -> Result<(String, String), String> {
    let mut reader = Reader { bytes, at: 0 };
    let (mut key, mut value) = (None, None);
    while !reader.done() {
        match reader.key()? {
            (1, 2) => key = Some(text(reader.bytes()?, "header key")?),
            (2, 2) => value = Some(text(reader.bytes()?, "header value")?),
            (1 | 2, wire) => return Err(format!("header field has wire type {wire}")),
            (_, wire) => reader.skip(wire)?,
        }
    }
    match (key, value) {
        (Some(key), Some(value)) => Ok((key, value)),
        _ => Err("a header lacks its key or value".into()),
    }
}

fn text(bytes: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    varint(out, u64::from(field) << 3);
    varint(out, value);
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    varint(out, u64::from(field) << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or("the frame ends inside a varint")?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err("a varint is longer than ten bytes".into())
    }

    fn key(&mut self) -> Result<(u64, u8), String> {
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err("field number 0".into());
        }
        Ok((field, (key & 7) as u8))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.varint()?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| self.at.checked_add(len))
            .filter(|end| *end <= self.bytes.len())
            .ok_or("a length runs past the end of the frame")?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    /// Skips a field this reader does not know.
    fn skip(&mut self, wire: u8) -> Result<(), String> {
        let width = match wire {
            0 => return self.varint().map(drop),
            2 => return self.bytes().map(drop),
            1 => 8,
            5 => 4,
            other => return Err(format!("unsupported wire type {other}")),
        };
        if self.bytes.len() - self.at < width {
            return Err("the frame ends inside a fixed-width field".into());
        }
        self.at += width;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn frame_from_json(v: &Value) -> Frame {
        let opt = |key: &str| v[key].as_str().map(String::from);
        Frame {
            seq_id: v["SeqID"].as_u64().unwrap(),
            log_id: v["LogID"].as_u64().unwrap(),
            service: v["service"].as_i64().unwrap() as i32,
            method: v["method"].as_i64().unwrap() as i32,
            headers: v["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h[0].as_str().unwrap().to_string(),
                        h[1].as_str().unwrap().to_string(),
                    )
                })
                .collect(),
            payload_encoding: opt("payload_encoding"),
            payload_type: opt("payload_type"),
            payload: v["payload_hex"].as_str().map(unhex),
            log_id_new: opt("LogIDNew"),
        }
    }

    /// Frames written by the official Python SDK's protobuf classes (made by tests/pbbp2_vectors.py, which says how to run it).
    #[test]
    fn reads_and_writes_the_official_sdks_bytes() {
        let vectors: Value =
            serde_json::from_str(include_str!("../tests/pbbp2_vectors.json")).unwrap();
        let vectors = vectors["vectors"].as_array().unwrap();
        assert!(vectors.len() >= 3);
        for vector in vectors {
            let name = vector["name"].as_str().unwrap();
            let bytes = unhex(vector["hex"].as_str().unwrap());
            let expected = frame_from_json(&vector["frame"]);
            assert_eq!(Frame::decode(&bytes).unwrap(), expected, "decoding {name}");
            assert_eq!(expected.encode(), bytes, "encoding {name}");
        }
    }

    #[test]
    fn the_documented_ping_is_written_byte_for_byte() {
        let ping = Frame {
            service: 7,
            method: CONTROL,
            headers: vec![("type".into(), "ping".into())],
            ..Frame::default()
        };
        assert_eq!(
            ping.encode(),
            unhex("08001000180720002a0c0a0474797065120470696e67")
        );
    }

    #[test]
    fn round_trips_large_and_negative_numbers() {
        let frame = Frame {
            seq_id: u64::MAX,
            log_id: 1 << 40,
            service: -3,
            method: DATA,
            headers: vec![("k".into(), String::new())],
            payload: Some(vec![0; 300]),
            log_id_new: Some("x".into()),
            ..Frame::default()
        };
        assert_eq!(Frame::decode(&frame.encode()).unwrap(), frame);
    }

    #[test]
    fn skips_unknown_fields() {
        let mut bytes = Frame {
            method: DATA,
            ..Frame::default()
        }
        .encode();
        bytes.extend([0x50, 0x01]); // field 10, varint
        bytes.extend([0x5a, 0x02, b'h', b'i']); // field 11, bytes
        bytes.extend([0x61, 0, 0, 0, 0, 0, 0, 0, 0]); // field 12, fixed64
        bytes.extend([0x6d, 0, 0, 0, 0]); // field 13, fixed32
        assert_eq!(Frame::decode(&bytes).unwrap().method, DATA);
    }

    #[test]
    fn refuses_malformed_frames() {
        let good = Frame {
            headers: vec![("type".into(), "event".into())],
            payload: Some(b"{}".to_vec()),
            ..Frame::default()
        }
        .encode();
        // Cut inside the header field and inside the payload field (cuts between fields leave a valid frame).
        for cut in [9, 12, good.len() - 3, good.len() - 2, good.len() - 1] {
            assert!(Frame::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        // Required fields missing: an empty message.
        assert!(
            Frame::decode(&[])
                .unwrap_err()
                .contains("required field SeqID")
        );
        // A header without a value.
        let mut bytes = Frame::default().encode();
        bytes.extend([0x2a, 0x03, 0x0a, 0x01, b'k']);
        assert!(Frame::decode(&bytes).unwrap_err().contains("key or value"));
        // A payload claiming more bytes than there are.
        let mut bytes = Frame::default().encode();
        bytes.extend([0x42, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(Frame::decode(&bytes).is_err());
        // Endless varint.
        let mut bytes = Frame::default().encode();
        bytes.extend([0x08].iter().chain([0xff; 11].iter()));
        assert!(Frame::decode(&bytes).unwrap_err().contains("ten bytes"));
        // Wrong wire type for a known field.
        assert!(
            Frame::decode(&[0x0a, 0x00])
                .unwrap_err()
                .contains("wire type")
        );
        // Too many headers.
        let many = Frame {
            headers: vec![("a".into(), "b".into()); MAX_HEADERS + 1],
            ..Frame::default()
        };
        assert!(
            Frame::decode(&many.encode())
                .unwrap_err()
                .contains("headers")
        );
        assert!(
            Frame::decode(&vec![0; MAX_FRAME + 1])
                .unwrap_err()
                .contains("limit")
        );
    }
}
