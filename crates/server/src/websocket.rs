//! WebSocket (RFC 6455), the server's half, as far as the Kubernetes channel protocols need it:
//! the handshake's accept key, and frames decoded from a byte buffer and encoded into one
//! (sans-IO: `exec.rs` owns the connection). Client frames must be masked; a message is at
//! most [`MAX_MESSAGE`] bytes; control frames are at most 125 bytes and never fragmented.

use base64::Engine;

/// The largest message a client may send (stdin chunks and resize events are far smaller).
pub const MAX_MESSAGE: usize = 1 << 20;

/// The GUID RFC 6455 §1.3 appends to the client's key.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{}{GUID}", key.trim()).as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// Frame opcodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// A continuation of a fragmented message.
    Continuation,
    /// A text message.
    Text,
    /// A binary message.
    Binary,
    /// Close, with an optional code and reason.
    Close,
    /// Ping.
    Ping,
    /// Pong.
    Pong,
}

impl Opcode {
    fn from_bits(b: u8) -> Option<Self> {
        Some(match b {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            8 => Opcode::Close,
            9 => Opcode::Ping,
            10 => Opcode::Pong,
            _ => return None,
        })
    }
    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0,
            Opcode::Text => 1,
            Opcode::Binary => 2,
            Opcode::Close => 8,
            Opcode::Ping => 9,
            Opcode::Pong => 10,
        }
    }
    fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A protocol violation: the connection is closed with the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// A frame breaks RFC 6455 (unmasked, reserved bits, bad opcode or control frame): 1002.
    #[error("websocket protocol error: {0}")]
    Protocol(&'static str),
    /// A message over [`MAX_MESSAGE`]: 1009.
    #[error("websocket message too big")]
    TooBig,
}

impl WsError {
    /// The close code to answer with.
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::Protocol(_) => 1002,
            WsError::TooBig => 1009,
        }
    }
}

/// One message (or control frame) received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Text, Binary, Close, Ping or Pong.
    pub opcode: Opcode,
    /// Its payload, unmasked.
    pub payload: Vec<u8>,
}

/// Reassembles messages from client frames.
#[derive(Debug, Default)]
pub struct Decoder {
    partial: Option<(Opcode, Vec<u8>)>,
}

impl Decoder {
    /// The next message from the front of `buf` (its bytes removed), None until a whole one
    /// is there.
    pub fn next(&mut self, buf: &mut Vec<u8>) -> Result<Option<Message>, WsError> {
        loop {
            let Some((fin, opcode, payload, used)) = frame(buf)? else {
                return Ok(None);
            };
            buf.drain(..used);
            if opcode.is_control() {
                if !fin || payload.len() > 125 {
                    return Err(WsError::Protocol("fragmented or long control frame"));
                }
                return Ok(Some(Message { opcode, payload }));
            }
            let (kind, mut data) = match (opcode, self.partial.take()) {
                (Opcode::Continuation, Some(p)) => p,
                (Opcode::Continuation, None) => {
                    return Err(WsError::Protocol("continuation without a message"))
                }
                (_, Some(_)) => {
                    return Err(WsError::Protocol("new message inside a fragmented one"))
                }
                (op, None) => (op, Vec::new()),
            };
            if data.len() + payload.len() > MAX_MESSAGE {
                return Err(WsError::TooBig);
            }
            data.extend_from_slice(&payload);
            if fin {
                return Ok(Some(Message {
                    opcode: kind,
                    payload: data,
                }));
            }
            self.partial = Some((kind, data));
        }
    }
}

/// One frame: fin, opcode, unmasked payload, and the bytes it took.
type Frame = (bool, Opcode, Vec<u8>, usize);

/// One frame at the front of `buf`.
fn frame(buf: &[u8]) -> Result<Option<Frame>, WsError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(WsError::Protocol("reserved bits set"));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = Opcode::from_bits(b0 & 0x0f).ok_or(WsError::Protocol("unknown opcode"))?;
    if b1 & 0x80 == 0 {
        return Err(WsError::Protocol("client frames must be masked"));
    }
    let (len, mut at) = match b1 & 0x7f {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        n => (u64::from(n), 2),
    };
    if len > MAX_MESSAGE as u64 {
        return Err(WsError::TooBig);
    }
    let len = len as usize;
    if buf.len() < at + 4 + len {
        return Ok(None);
    }
    let mask = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
    at += 4;
    let payload: Vec<u8> = buf[at..at + len]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    Ok(Some((fin, opcode, payload, at + len)))
}

/// A whole, unmasked server frame.
pub fn encode(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode.bits());
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xffff => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// A close frame with its code.
pub fn close(code: u16) -> Vec<u8> {
    encode(Opcode::Close, &code.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut out = vec![if fin { 0x80 } else { 0 } | op];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[test]
    fn the_rfc_example_key() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn frames_reassemble_and_violations_are_refused() {
        let mut d = Decoder::default();
        let mut buf = masked(false, 2, b"\x00he");
        buf.extend(masked(false, 0, b"ll"));
        buf.extend(masked(true, 9, b"p"));
        buf.extend(masked(true, 0, b"o"));
        // A ping between fragments comes first, then the whole message.
        assert_eq!(
            d.next(&mut buf).unwrap().unwrap(),
            Message {
                opcode: Opcode::Ping,
                payload: b"p".to_vec()
            }
        );
        assert_eq!(
            d.next(&mut buf).unwrap().unwrap(),
            Message {
                opcode: Opcode::Binary,
                payload: b"\x00hello".to_vec()
            }
        );
        assert!(buf.is_empty());
        // Half a frame waits for the rest.
        let whole = masked(true, 2, &[7u8; 300]);
        let mut part = whole[..100].to_vec();
        assert_eq!(d.next(&mut part).unwrap(), None);
        part.extend_from_slice(&whole[100..]);
        assert_eq!(d.next(&mut part).unwrap().unwrap().payload.len(), 300);
        let mut unmasked = vec![0x82, 1, 0];
        assert_eq!(d.next(&mut unmasked).unwrap_err().close_code(), 1002);
        let mut huge = vec![0x82, 0xff, 0, 0, 0, 0, 0x10, 0, 0, 0];
        assert_eq!(d.next(&mut huge).unwrap_err(), WsError::TooBig);
        let mut reserved = masked(true, 0x42, b"");
        assert!(d.next(&mut reserved).is_err());
        assert_eq!(encode(Opcode::Binary, &[1, 2]), vec![0x82, 2, 1, 2]);
        assert_eq!(encode(Opcode::Binary, &[0; 200])[1], 126);
    }
}
