//! SNMP values as facts: each OID's value with its SMI type (integer, counter, gauge,
//! timeticks, string, oid ...), converted from the wire form the `snmp2` crate decodes.

use serde::Serialize;

/// The SMI type of a value, as people and scripts read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SnmpType {
    Integer,
    Counter32,
    Counter64,
    /// Gauge32 / Unsigned32 (one wire type).
    Gauge,
    Timeticks,
    String,
    Oid,
    IpAddress,
    Opaque,
    Boolean,
    Null,
    /// The agent does not implement the object (v2c/v3 `noSuchObject`).
    NoSuchObject,
    /// The object exists but not this instance (`noSuchInstance`).
    NoSuchInstance,
    EndOfMibView,
    Other,
}

impl SnmpType {
    pub fn as_str(self) -> &'static str {
        match self {
            SnmpType::Integer => "integer",
            SnmpType::Counter32 => "counter32",
            SnmpType::Counter64 => "counter64",
            SnmpType::Gauge => "gauge",
            SnmpType::Timeticks => "timeticks",
            SnmpType::String => "string",
            SnmpType::Oid => "oid",
            SnmpType::IpAddress => "ip_address",
            SnmpType::Opaque => "opaque",
            SnmpType::Boolean => "boolean",
            SnmpType::Null => "null",
            SnmpType::NoSuchObject => "no_such_object",
            SnmpType::NoSuchInstance => "no_such_instance",
            SnmpType::EndOfMibView => "end_of_mib_view",
            SnmpType::Other => "other",
        }
    }
}

/// A value: a number for the numeric types, text for the others, nothing when the agent has
/// no such object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SnmpData {
    Int(i64),
    Unsigned(u64),
    Text(String),
    None,
}

/// One OID's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnmpValue {
    pub oid: String,
    #[serde(rename = "type")]
    pub kind: SnmpType,
    pub value: SnmpData,
}

/// Strings longer than this are cut: facts are stored and shown, and a sysDescr is short.
const MAX_TEXT: usize = 256;

impl SnmpValue {
    pub fn from_wire(oid: String, v: &snmp2::Value<'_>) -> SnmpValue {
        use snmp2::Value as V;
        let (kind, value) = match v {
            V::Integer(n) => (SnmpType::Integer, SnmpData::Int(*n)),
            V::Counter32(n) => (SnmpType::Counter32, SnmpData::Unsigned(u64::from(*n))),
            V::Counter64(n) => (SnmpType::Counter64, SnmpData::Unsigned(*n)),
            V::Unsigned32(n) => (SnmpType::Gauge, SnmpData::Unsigned(u64::from(*n))),
            V::Timeticks(n) => (SnmpType::Timeticks, SnmpData::Unsigned(u64::from(*n))),
            V::OctetString(b) => (SnmpType::String, SnmpData::Text(text(b))),
            V::ObjectIdentifier(o) => (SnmpType::Oid, SnmpData::Text(o.to_id_string())),
            V::IpAddress(a) => (
                SnmpType::IpAddress,
                SnmpData::Text(std::net::Ipv4Addr::from(*a).to_string()),
            ),
            V::Opaque(b) => (SnmpType::Opaque, SnmpData::Text(hex(b))),
            V::Boolean(b) => (SnmpType::Boolean, SnmpData::Int(i64::from(*b))),
            V::Null => (SnmpType::Null, SnmpData::None),
            V::NoSuchObject => (SnmpType::NoSuchObject, SnmpData::None),
            V::NoSuchInstance => (SnmpType::NoSuchInstance, SnmpData::None),
            V::EndOfMibView => (SnmpType::EndOfMibView, SnmpData::None),
            _ => (SnmpType::Other, SnmpData::None),
        };
        SnmpValue { oid, kind, value }
    }

    /// The value as a number, for numeric checks and presets.
    pub fn number(&self) -> Option<f64> {
        match &self.value {
            SnmpData::Int(n) => Some(*n as f64),
            SnmpData::Unsigned(n) => Some(*n as f64),
            SnmpData::Text(t) => t.trim().parse().ok(),
            SnmpData::None => None,
        }
    }

    /// The value as text, for text checks and people.
    pub fn text(&self) -> Option<String> {
        match &self.value {
            SnmpData::Int(n) => Some(n.to_string()),
            SnmpData::Unsigned(n) => Some(n.to_string()),
            SnmpData::Text(t) => Some(t.clone()),
            SnmpData::None => None,
        }
    }

    /// `value (type)` for people; the type alone when there is no value.
    pub fn shown(&self) -> String {
        match self.text() {
            Some(t) if matches!(self.value, SnmpData::Text(_)) => {
                format!("{t:?} ({})", self.kind.as_str())
            }
            Some(t) => format!("{t} ({})", self.kind.as_str()),
            None => self.kind.as_str().to_string(),
        }
    }
}

/// Octet strings are usually text (sysDescr, ifDescr); binary ones (MAC addresses) as hex.
fn text(b: &[u8]) -> String {
    // Decoded whole, then cut by characters: a cut by bytes could split a Vietnamese letter
    // and turn a long ifAlias into hex.
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') => {
            s.trim_end_matches('\0').chars().take(MAX_TEXT).collect()
        }
        _ => hex(&b[..b.len().min(MAX_TEXT)]),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .take(MAX_TEXT)
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses a dotted OID (`1.3.6.1.2.1.1.3.0`, a leading dot allowed) into its arcs; the
/// message says what is wrong.
pub fn parse_oid(s: &str) -> Result<Vec<u64>, String> {
    let t = s.trim().trim_start_matches('.');
    let arcs: Vec<u64> = t
        .split('.')
        .map(|a| a.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            format!("`{s}` is not a dotted numeric OID such as 1.3.6.1.2.1.1.3.0 (names are not looked up)")
        })?;
    if arcs.len() < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39) {
        return Err(format!(
            "`{s}` is not a valid OID: it needs at least two arcs and starts with 0, 1 or 2"
        ));
    }
    if arcs.len() > 128 {
        return Err(format!("`{s}` has more than 128 arcs"));
    }
    Ok(arcs)
}

/// The canonical dotted form (no leading dot), as facts and checks name OIDs.
pub fn canonical(arcs: &[u64]) -> String {
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_parse_and_refuse_clearly() {
        assert_eq!(parse_oid(".1.3.6.1.2.1.1.3.0").unwrap().len(), 9);
        assert_eq!(canonical(&parse_oid("1.3.6.1").unwrap()), "1.3.6.1");
        assert!(
            parse_oid("sysUpTime.0")
                .unwrap_err()
                .contains("dotted numeric")
        );
        assert!(parse_oid("1").unwrap_err().contains("two arcs"));
        assert!(
            parse_oid("3.1")
                .unwrap_err()
                .contains("starts with 0, 1 or 2")
        );
        assert!(parse_oid("1..3").is_err());
    }

    #[test]
    fn values_keep_their_type() {
        let v = SnmpValue::from_wire("1.3".into(), &snmp2::Value::Counter32(7));
        assert_eq!((v.kind, v.number()), (SnmpType::Counter32, Some(7.0)));
        let v = SnmpValue::from_wire("1.3".into(), &snmp2::Value::OctetString(b"lo"));
        assert_eq!(v.shown(), "\"lo\" (string)");
        let v = SnmpValue::from_wire("1.3".into(), &snmp2::Value::OctetString(&[0, 0x1b, 0xff]));
        assert_eq!(v.text().as_deref(), Some("00:1b:ff"));
        let v = SnmpValue::from_wire("1.3".into(), &snmp2::Value::NoSuchObject);
        assert_eq!(
            (v.shown(), v.number()),
            ("no_such_object".to_string(), None)
        );
    }
}
