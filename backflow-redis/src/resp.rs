//! The sink's `XADD` encoder: commands written as RESP straight into one reused buffer per batch.
//!
//! `redis::Pipeline` builds a `Cmd` per command (two vectors, grown argument by argument, then
//! copied into the packed pipeline) and a hash set of ignored replies; at 100 `XADD`s per round
//! trip that was most of the sink's client CPU. Here the fixed part of the command (`XADD stream
//! [MAXLEN ~ n] *`) is encoded once, and each item's fields and values are written by their own
//! [`ToRedisArgs`] impls through [`RedisWrite`], so the bytes are exactly what `redis::cmd` would
//! send.

use std::io;

use redis::{RedisWrite, ToRedisArgs};

/// Encodes `XADD stream [MAXLEN ~ n] * field value …` commands.
pub(crate) struct XaddEncoder {
    /// The encoded arguments before the fields (`$4\r\nXADD\r\n…$1\r\n*\r\n`).
    head: Vec<u8>,
    /// How many arguments `head` holds.
    head_args: usize,
    /// One command's field/value arguments, reused.
    fields: Args,
}

impl XaddEncoder {
    pub(crate) fn new(stream: &str, maxlen: Option<u64>) -> XaddEncoder {
        let mut head = Args::default();
        head.write_arg(b"XADD");
        head.write_arg(stream.as_bytes());
        if let Some(n) = maxlen {
            head.write_arg(b"MAXLEN");
            head.write_arg(b"~");
            n.write_redis_args(&mut head);
        }
        head.write_arg(b"*");
        XaddEncoder {
            head_args: head.count,
            head: head.buf,
            fields: Args::default(),
        }
    }

    /// Appends one `XADD` of `pairs` to `out`.
    pub(crate) fn push<F, V>(&mut self, out: &mut Vec<u8>, pairs: impl IntoIterator<Item = (F, V)>)
    where
        F: ToRedisArgs,
        V: ToRedisArgs,
    {
        self.fields.clear();
        for (f, v) in pairs {
            f.write_redis_args(&mut self.fields);
            v.write_redis_args(&mut self.fields);
        }
        out.reserve(16 + self.head.len() + self.fields.buf.len());
        out.push(b'*');
        push_decimal(out, self.head_args + self.fields.count);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.head);
        out.extend_from_slice(&self.fields.buf);
    }
}

/// RESP bulk strings, counted.
#[derive(Default)]
struct Args {
    buf: Vec<u8>,
    count: usize,
    /// Where [`RedisWrite::writer_for_next_arg`] collects an argument of unknown length.
    spare: Vec<u8>,
}

impl Args {
    fn clear(&mut self) {
        self.buf.clear();
        self.count = 0;
    }
}

impl RedisWrite for Args {
    fn write_arg(&mut self, arg: &[u8]) {
        self.buf.reserve(arg.len() + 16);
        self.buf.push(b'$');
        push_decimal(&mut self.buf, arg.len());
        self.buf.extend_from_slice(b"\r\n");
        self.buf.extend_from_slice(arg);
        self.buf.extend_from_slice(b"\r\n");
        self.count += 1;
    }

    fn writer_for_next_arg(&mut self) -> impl io::Write + '_ {
        let spare = std::mem::take(&mut self.spare);
        NextArg { args: self, spare }
    }
}

/// Collects one argument; it is written (length first) when dropped.
struct NextArg<'a> {
    args: &'a mut Args,
    spare: Vec<u8>,
}

impl io::Write for NextArg<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.spare.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for NextArg<'_> {
    fn drop(&mut self) {
        let mut spare = std::mem::take(&mut self.spare);
        self.args.write_arg(&spare);
        spare.clear();
        self.args.spare = spare;
    }
}

fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use redis::RedisWrite as _;

    use super::{Args, XaddEncoder};

    #[test]
    fn an_argument_written_through_writer_for_next_arg_is_one_bulk_string() {
        let mut a = Args::default();
        {
            let mut w = a.writer_for_next_arg();
            w.write_all(b"ab").unwrap();
            w.write_all(b"c").unwrap();
        }
        drop(a.writer_for_next_arg());
        a.write_arg(b"d");
        assert_eq!(a.buf, b"$3\r\nabc\r\n$0\r\n\r\n$1\r\nd\r\n");
        assert_eq!(a.count, 3);
    }

    /// What `redis::cmd` sends for the same command; `fields` adds the field arguments.
    fn packed(stream: &str, maxlen: Option<u64>, fields: impl Fn(&mut redis::Cmd)) -> Vec<u8> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(stream);
        if let Some(n) = maxlen {
            cmd.arg("MAXLEN").arg("~").arg(n);
        }
        cmd.arg("*");
        fields(&mut cmd);
        cmd.get_packed_command()
    }

    #[test]
    fn the_bytes_are_what_redis_cmd_sends() {
        let mut enc = XaddEncoder::new("jobs", None);
        let mut out = Vec::new();
        enc.push(&mut out, [("n", 7u64)]);
        assert_eq!(
            out,
            packed("jobs", None, |c| {
                c.arg("n").arg(7u64);
            })
        );

        let mut enc = XaddEncoder::new("ström", Some(1_000));
        let mut out = Vec::new();
        enc.push(&mut out, vec![("a", "x".to_string()), ("b", String::new())]);
        enc.push(&mut out, Vec::<(&str, String)>::new());
        let mut want = packed("ström", Some(1_000), |c| {
            c.arg("a").arg("x").arg("b").arg("");
        });
        want.extend(packed("ström", Some(1_000), |_| {}));
        assert_eq!(out, want);
    }

    #[test]
    fn a_multi_argument_value_and_wide_numbers_encode_like_redis_cmd() {
        let mut enc = XaddEncoder::new("s", Some(u64::MAX));
        let mut out = Vec::new();
        let many: Vec<Vec<u8>> = (0..12).map(|i| vec![b'v'; i * 3]).collect();
        enc.push(&mut out, [("f", many.clone())]);
        enc.push(&mut out, [("x", -5i64), ("y", 0i64)]);
        enc.push(&mut out, [("z", 1.5f64)]);
        let mut want = packed("s", Some(u64::MAX), |c| {
            c.arg("f").arg(&many);
        });
        want.extend(packed("s", Some(u64::MAX), |c| {
            c.arg("x").arg(-5i64).arg("y").arg(0i64);
        }));
        want.extend(packed("s", Some(u64::MAX), |c| {
            c.arg("z").arg(1.5f64);
        }));
        assert_eq!(out, want);
    }
}
