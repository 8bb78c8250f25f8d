//! SPDY/3.1 (draft-mbelshe-httpbis-spdy-00, as `moby/spdystream` speaks it for client-go), the
//! server's half of what `kubectl exec` 1.27–1.29 needs: frames parsed from a byte buffer
//! and written into one (sans-IO), header blocks inflated and deflated with the protocol's
//! zlib dictionary, one compression context per direction for the whole connection.
//! Flow control is not enforced (spdystream does not either).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// A frame's largest payload this server accepts (headers and stdin chunks are far smaller).
pub const MAX_FRAME: usize = 1 << 20;
/// DATA flag: the sender's last frame on the stream.
pub const FLAG_FIN: u8 = 0x01;

/// The header names and values SPDY/3 §2.6.10.1 primes zlib with, each length-prefixed in
/// the dictionary, followed by [`DICTIONARY_TAIL`].
const DICTIONARY_WORDS: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The dictionary's unprefixed end.
const DICTIONARY_TAIL: &str = "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

/// The SPDY/3 header compression dictionary.
pub fn dictionary() -> Vec<u8> {
    let mut d = Vec::with_capacity(1423);
    for w in DICTIONARY_WORDS {
        d.extend_from_slice(&(w.len() as u32).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(DICTIONARY_TAIL.as_bytes());
    d
}

/// A frame that breaks the protocol (the connection is dropped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpdyError {
    /// A frame longer than [`MAX_FRAME`].
    #[error("spdy frame too large")]
    TooLarge,
    /// Not SPDY version 3, or a malformed frame.
    #[error("spdy protocol error: {0}")]
    Protocol(&'static str),
    /// A header block that does not inflate or parse.
    #[error("spdy header block: {0}")]
    Headers(String),
}

/// One frame received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// DATA on a stream.
    Data {
        /// The stream.
        stream: u32,
        /// FIN set.
        fin: bool,
        /// The payload.
        data: Vec<u8>,
    },
    /// SYN_STREAM: a new stream with its headers.
    SynStream {
        /// The stream.
        stream: u32,
        /// FIN set (the client sends nothing on it).
        fin: bool,
        /// Its headers, names lower-case.
        headers: Vec<(String, String)>,
    },
    /// RST_STREAM.
    Reset {
        /// The stream.
        stream: u32,
    },
    /// PING, to be echoed.
    Ping {
        /// Its id.
        id: u32,
    },
    /// GOAWAY.
    GoAway,
    /// Anything else (SETTINGS, WINDOW_UPDATE, HEADERS, NOOP): ignored.
    Other,
}

/// One connection's header compression state and frame parsing.
pub struct Codec {
    inflate: Decompress,
    deflate: Compress,
    dict: Vec<u8>,
    deflate_primed: bool,
}

impl Default for Codec {
    fn default() -> Self {
        Codec {
            inflate: Decompress::new(true),
            deflate: Compress::new(Compression::default(), true),
            dict: dictionary(),
            deflate_primed: false,
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Codec {
    /// The next frame from the front of `buf` (its bytes removed), None until a whole one is
    /// there.
    pub fn next(&mut self, buf: &mut Vec<u8>) -> Result<Option<Frame>, SpdyError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let len = (u32_at(buf, 4) & 0x00ff_ffff) as usize;
        if len > MAX_FRAME {
            return Err(SpdyError::TooLarge);
        }
        if buf.len() < 8 + len {
            return Ok(None);
        }
        let frame: Vec<u8> = buf.drain(..8 + len).collect();
        let flags = frame[4];
        let body = &frame[8..];
        if frame[0] & 0x80 == 0 {
            return Ok(Some(Frame::Data {
                stream: u32_at(&frame, 0) & 0x7fff_ffff,
                fin: flags & FLAG_FIN != 0,
                data: body.to_vec(),
            }));
        }
        let version = u16::from_be_bytes([frame[0], frame[1]]) & 0x7fff;
        if version != 3 {
            return Err(SpdyError::Protocol("not SPDY/3"));
        }
        let kind = u16::from_be_bytes([frame[2], frame[3]]);
        let need = |n: usize| {
            if body.len() < n {
                Err(SpdyError::Protocol("short control frame"))
            } else {
                Ok(())
            }
        };
        Ok(Some(match kind {
            1 => {
                need(10)?;
                let stream = u32_at(body, 0) & 0x7fff_ffff;
                let headers = self.inflate_headers(&body[10..])?;
                Frame::SynStream {
                    stream,
                    fin: flags & FLAG_FIN != 0,
                    headers,
                }
            }
            3 => {
                need(8)?;
                Frame::Reset {
                    stream: u32_at(body, 0) & 0x7fff_ffff,
                }
            }
            6 => {
                need(4)?;
                Frame::Ping {
                    id: u32_at(body, 0),
                }
            }
            7 => Frame::GoAway,
            8 => {
                // HEADERS: keep the compression context in step.
                need(4)?;
                self.inflate_headers(&body[4..])?;
                Frame::Other
            }
            _ => Frame::Other,
        }))
    }

    fn inflate_headers(&mut self, block: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
        let mut out = Vec::with_capacity(block.len() * 4 + 64);
        let mut input = block;
        loop {
            let before_in = self.inflate.total_in();
            let r = self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            let used = (self.inflate.total_in() - before_in) as usize;
            input = &input[used..];
            match r {
                Ok(Status::Ok | Status::BufError | Status::StreamEnd) => {
                    if input.is_empty() && out.len() < out.capacity() {
                        break;
                    }
                    if out.len() > MAX_FRAME {
                        return Err(SpdyError::TooLarge);
                    }
                    out.reserve(out.capacity().max(256));
                }
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(&self.dict)
                        .map_err(|e| SpdyError::Headers(e.to_string()))?;
                }
                Err(e) => return Err(SpdyError::Headers(e.to_string())),
            }
        }
        parse_headers(&out)
    }

    fn deflate_headers(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        if !self.deflate_primed {
            let _ = self.deflate.set_dictionary(&self.dict);
            self.deflate_primed = true;
        }
        let mut plain = (headers.len() as u32).to_be_bytes().to_vec();
        for (k, v) in headers {
            plain.extend_from_slice(&(k.len() as u32).to_be_bytes());
            plain.extend_from_slice(k.as_bytes());
            plain.extend_from_slice(&(v.len() as u32).to_be_bytes());
            plain.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(plain.len() + 64);
        let mut input = plain.as_slice();
        loop {
            let before = self.deflate.total_in();
            let _ = self
                .deflate
                .compress_vec(input, &mut out, FlushCompress::Sync);
            input = &input[(self.deflate.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
            out.reserve(64);
        }
        out
    }

    /// SYN_REPLY for a stream, with `headers`.
    pub fn syn_reply(&mut self, stream: u32, headers: &[(&str, &str)]) -> Vec<u8> {
        let block = self.deflate_headers(headers);
        let mut f = control(2, 0, 4 + block.len());
        f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        f.extend_from_slice(&block);
        f
    }
}

fn control(kind: u16, flags: u8, len: usize) -> Vec<u8> {
    let mut f = vec![0x80, 3];
    f.extend_from_slice(&kind.to_be_bytes());
    f.push(flags);
    f.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    f
}

fn parse_headers(block: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
    let bad = || SpdyError::Headers("truncated header block".into());
    let take = |at: &mut usize| -> Result<String, SpdyError> {
        let len = u32_at(block.get(*at..*at + 4).ok_or_else(bad)?, 0) as usize;
        *at += 4;
        let s = block.get(*at..*at + len).ok_or_else(bad)?;
        *at += len;
        Ok(String::from_utf8_lossy(s).into_owned())
    };
    let mut at = 0;
    let n = u32_at(block.get(0..4).ok_or_else(bad)?, 0) as usize;
    at += 4;
    let mut out = Vec::new();
    for _ in 0..n.min(1024) {
        let k = take(&mut at)?;
        let v = take(&mut at)?;
        out.push((k.to_ascii_lowercase(), v));
    }
    Ok(out)
}

/// A DATA frame.
pub fn data(stream: u32, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
    f.push(if fin { FLAG_FIN } else { 0 });
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(payload);
    f
}

/// A PING echoed.
pub fn ping(id: u32) -> Vec<u8> {
    let mut f = control(6, 0, 4);
    f.extend_from_slice(&id.to_be_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's SYN_STREAM, compressed as a client would (its own deflate context).
    fn syn_stream(
        client: &mut Compress,
        dict: &[u8],
        first: bool,
        id: u32,
        headers: &[(&str, &str)],
    ) -> Vec<u8> {
        if first {
            client.set_dictionary(dict).unwrap();
        }
        let mut plain = (headers.len() as u32).to_be_bytes().to_vec();
        for (k, v) in headers {
            plain.extend_from_slice(&(k.len() as u32).to_be_bytes());
            plain.extend_from_slice(k.as_bytes());
            plain.extend_from_slice(&(v.len() as u32).to_be_bytes());
            plain.extend_from_slice(v.as_bytes());
        }
        let mut block = Vec::with_capacity(1024);
        client
            .compress_vec(&plain, &mut block, FlushCompress::Sync)
            .unwrap();
        let mut f = control(1, 0, 10 + block.len());
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(&0u32.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&block);
        f
    }

    #[test]
    fn the_dictionary_is_the_specs() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\x00\x00\x00\x07options");
        assert!(d.ends_with(b"enq=0."));
    }

    #[test]
    fn header_blocks_share_one_context_and_frames_split_anywhere() {
        let dict = dictionary();
        let mut client = Compress::new(Compression::default(), true);
        let mut wire = syn_stream(&mut client, &dict, true, 1, &[("streamtype", "error")]);
        wire.extend(syn_stream(
            &mut client,
            &dict,
            false,
            3,
            &[("streamtype", "stdout"), ("x", "y")],
        ));
        wire.extend(data(3, true, b"hi"));
        wire.extend(ping(7));
        let mut codec = Codec::default();
        let mut buf = wire[..5].to_vec();
        assert_eq!(codec.next(&mut buf).unwrap(), None);
        buf.extend_from_slice(&wire[5..]);
        let f1 = codec.next(&mut buf).unwrap().unwrap();
        assert_eq!(
            f1,
            Frame::SynStream {
                stream: 1,
                fin: false,
                headers: vec![("streamtype".into(), "error".into())]
            }
        );
        let f2 = codec.next(&mut buf).unwrap().unwrap();
        assert!(
            matches!(f2, Frame::SynStream { stream: 3, ref headers, .. } if headers[1] == ("x".to_string(), "y".to_string()))
        );
        assert_eq!(
            codec.next(&mut buf).unwrap().unwrap(),
            Frame::Data {
                stream: 3,
                fin: true,
                data: b"hi".to_vec()
            }
        );
        // A ping frame parsed the way it is written (the server's PING is the client's too).
        assert_eq!(
            codec.next(&mut buf).unwrap().unwrap(),
            Frame::Ping { id: 7 }
        );
        // Replies inflate on the other side with the same dictionary.
        let reply = codec.syn_reply(1, &[]);
        let mut client_in = Decompress::new(true);
        let mut out = Vec::with_capacity(64);
        let block = &reply[12..];
        let r = client_in.decompress_vec(block, &mut out, FlushDecompress::Sync);
        if r.as_ref()
            .err()
            .and_then(|e| e.needs_dictionary())
            .is_some()
        {
            client_in.set_dictionary(&dict).unwrap();
            client_in
                .decompress_vec(
                    &block[client_in.total_in() as usize..],
                    &mut out,
                    FlushDecompress::Sync,
                )
                .unwrap();
        }
        assert_eq!(out, vec![0, 0, 0, 0]);
        let mut huge = vec![0, 0, 0, 1, 0, 0xff, 0xff, 0xff];
        assert_eq!(codec.next(&mut huge).unwrap_err(), SpdyError::TooLarge);
    }
}
