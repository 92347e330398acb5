//! The commune list: its columns, the copy shipped in `data/`, and a strict reader for it.

use std::path::Path;

use super::InventoryError;

/// One commune-level unit, as listed in the CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commune {
    pub province_code: String,
    pub province_name: String,
    pub province_name_en: String,
    pub code: String,
    pub name: String,
    pub name_en: String,
    /// "Xã Kỳ Anh", "Phường Thành Sen", "Đặc khu ...".
    pub full_name: String,
    /// commune | ward | special_zone
    pub unit_type: String,
    /// ASCII, lowercase, words joined by `_` ("ky_anh").
    pub code_name: String,
}

const COLUMNS: [&str; 9] = [
    "province_code",
    "province_name",
    "province_name_en",
    "commune_code",
    "commune_name",
    "commune_name_en",
    "commune_full_name",
    "unit_type",
    "code_name",
];

/// The commune list shipped in `data/` (source and licence in `data/README.md`), compiled in so
/// the demo and the benchmark harness run anywhere, with no file beside the binary.
pub const SHIPPED_CSV: &str = include_str!("../../../data/vn-communes.csv");

/// The commune list from `path`, or the shipped one when no path is given.
pub fn communes(path: Option<&Path>) -> Result<Vec<Commune>, InventoryError> {
    match path {
        Some(p) => load_communes(p),
        None => parse_communes(Path::new("data/vn-communes.csv (built in)"), SHIPPED_CSV),
    }
}

/// Reads the commune list.
pub fn load_communes(path: &Path) -> Result<Vec<Commune>, InventoryError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| InventoryError::Read(path.to_path_buf(), e))?;
    parse_communes(path, &text)
}

/// Parses the commune list (CRLF or LF). The file has no quoted fields; a quote or a wrong
/// number of fields is reported with its line rather than silently misread.
pub fn parse_communes(path: &Path, text: &str) -> Result<Vec<Commune>, InventoryError> {
    let err = |line: usize, msg: String| InventoryError::Parse(path.to_path_buf(), line, msg);
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = match lines.next() {
        Some((_, h)) => h.trim_start_matches('\u{feff}').split(',').collect(),
        None => return Err(InventoryError::Empty),
    };
    if header != COLUMNS {
        return Err(err(
            1,
            format!("expected the columns {}", COLUMNS.join(",")),
        ));
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        if line.contains('"') {
            return Err(err(n, "quoted fields are not supported".into()));
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != COLUMNS.len() {
            return Err(err(
                n,
                format!("{} fields, expected {}", f.len(), COLUMNS.len()),
            ));
        }
        if f.iter().any(|v| v.is_empty()) {
            return Err(err(n, "empty field".into()));
        }
        let c = Commune {
            province_code: f[0].into(),
            province_name: f[1].into(),
            province_name_en: f[2].into(),
            code: f[3].into(),
            name: f[4].into(),
            name_en: f[5].into(),
            full_name: f[6].into(),
            unit_type: f[7].into(),
            code_name: f[8].into(),
        };
        if !c
            .code_name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(err(
                n,
                format!("code_name `{}` is not [a-z0-9_]", c.code_name),
            ));
        }
        out.push(c);
    }
    if out.is_empty() {
        return Err(InventoryError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A few communes that exercise every naming rule: two provinces sharing initials, two
    /// communes that fold alike, a centrally-run city. The other rooms' tests use it too.
    pub(crate) const CSV: &str = "province_code,province_name,province_name_en,commune_code,commune_name,commune_name_en,commune_full_name,unit_type,code_name\r\n\
42,Hà Tĩnh,Ha Tinh,18073,Thành Sen,Thanh Sen,Phường Thành Sen,ward,thanh_sen\r\n\
42,Hà Tĩnh,Ha Tinh,18200,Kỳ Anh,Ky Anh,Xã Kỳ Anh,commune,ky_anh\r\n\
19,Thái Nguyên,Thai Nguyen,05001,Văn Lang,Van Lang,Xã Văn Lang,commune,van_lang\r\n\
19,Thái Nguyên,Thai Nguyen,05002,Vân Lang,Van Lang,Xã Vân Lang,commune,van_lang\r\n\
80,Tây Ninh,Tay Ninh,25001,Tân An,Tan An,Phường Tân An,ward,tan_an\r\n\
01,Hà Nội,Hanoi,00004,Ba Đình,Ba Dinh,Phường Ba Đình,ward,ba_dinh\r\n";

    pub(crate) fn sample() -> Vec<Commune> {
        parse_communes(Path::new("t.csv"), CSV).unwrap()
    }

    #[test]
    fn bad_csv_lines_are_reported_with_their_line() {
        let bad = CSV.replace("ward,ba_dinh", "ward");
        let e = parse_communes(Path::new("x.csv"), &bad).unwrap_err();
        assert!(e.to_string().starts_with("x.csv:7:"), "{e}");
        assert!(parse_communes(Path::new("x.csv"), "a,b\n").is_err());
    }
}
