//! Statistics from the clear columns only (DESIGN §3), with small cells suppressed:
//! a count under k could point at one person, and so could a cell recoverable by
//! subtracting the others from the total. Names follow HTCDS 2.0 and CTDC.

use std::collections::BTreeMap;

use serde::Serialize;

/// What the statistics may know of one case: clear columns only.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaseFacts {
    pub year: i32,
    pub gender: Option<String>,
    pub age_at_identification: Option<i64>,
    pub exploitation_types: Vec<String>,
    pub province_of_origin: Option<String>,
    pub crossing_point: Option<String>,
    /// The case's state: its outcome once ended, `in_progress` before.
    pub state: String,
}

/// One count; `None` when suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub value: String,
    pub count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dimension {
    /// The HTCDS/CTDC field name.
    pub name: &'static str,
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    pub k: u64,
    /// Cases counted; `None` when fewer than k.
    pub total: Option<u64>,
    pub dimensions: Vec<Dimension>,
}

const UNKNOWN: &str = "Unknown";

/// CTDC's broad age bands.
pub fn age_band(age: Option<i64>) -> &'static str {
    match age {
        Some(0..=8) => "0--8",
        Some(9..=17) => "9--17",
        Some(18..=20) => "18--20",
        Some(21..=23) => "21--23",
        Some(24..=26) => "24--26",
        Some(27..=29) => "27--29",
        Some(30..=38) => "30--38",
        Some(39..=47) => "39--47",
        Some(48..) => "48+",
        _ => UNKNOWN,
    }
}

fn outcome(state: &str) -> &'static str {
    match state {
        "closed" => "closed",
        "declined" => "declined",
        "withdrawn" => "withdrawn",
        _ => "in_progress",
    }
}

/// Suppresses cells under `k`; when exactly one is suppressed, the next smallest
/// too, so it cannot be recovered from the total. With a total under `k`,
/// everything is suppressed.
fn suppress(counts: BTreeMap<String, u64>, total: u64, k: u64) -> Vec<Cell> {
    let mut cells: Vec<Cell> = counts
        .into_iter()
        .map(|(value, n)| Cell {
            value,
            count: (n >= k && total >= k).then_some(n),
        })
        .collect();
    let hidden = cells.iter().filter(|c| c.count.is_none()).count();
    if hidden == 1
        && let Some(smallest) = cells
            .iter_mut()
            .filter(|c| c.count.is_some())
            .min_by_key(|c| c.count)
    {
        smallest.count = None;
    }
    cells
}

/// Counts by year, gender, age band, exploitation type, province of origin,
/// crossing point and outcome, with cells under `k` suppressed.
pub fn tabulate(cases: &[CaseFacts], k: u64) -> Table {
    let total = cases.len() as u64;
    let mut dims: Vec<(&'static str, BTreeMap<String, u64>)> = [
        "yearOfRegistration",
        "gender",
        "ageBroad",
        "typeOfExploitation",
        "provinceOfOrigin",
        "crossingPoint",
        "outcome",
    ]
    .into_iter()
    .map(|n| (n, BTreeMap::new()))
    .collect();
    let or_unknown = |v: &Option<String>| {
        v.clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| UNKNOWN.into())
    };
    for c in cases {
        let mut add = |i: usize, v: String| *dims[i].1.entry(v).or_insert(0) += 1;
        add(0, c.year.to_string());
        add(1, or_unknown(&c.gender));
        add(2, age_band(c.age_at_identification).into());
        if c.exploitation_types.is_empty() {
            add(3, UNKNOWN.into());
        }
        for t in &c.exploitation_types {
            add(3, t.clone());
        }
        add(4, or_unknown(&c.province_of_origin));
        add(5, or_unknown(&c.crossing_point));
        add(6, outcome(&c.state).into());
    }
    Table {
        k,
        total: (total >= k).then_some(total),
        dimensions: dims
            .into_iter()
            .map(|(name, counts)| Dimension {
                name,
                cells: suppress(counts, total, k),
            })
            .collect(),
    }
}

impl Table {
    /// `dimension,value,count` lines; a suppressed count is written `suppressed`.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("dimension,value,count\n");
        let total = self
            .total
            .map(|n| n.to_string())
            .unwrap_or_else(|| "suppressed".into());
        out.push_str(&format!("total,,{total}\n"));
        for d in &self.dimensions {
            for c in &d.cells {
                let count = c
                    .count
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "suppressed".into());
                // Values are vocabulary codes and years: no commas or quotes to escape.
                out.push_str(&format!("{},{},{count}\n", d.name, c.value));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(gender: &str, age: i64, province: &str) -> CaseFacts {
        CaseFacts {
            year: 2026,
            gender: Some(gender.into()),
            age_at_identification: Some(age),
            exploitation_types: vec!["ForcedLabour".into()],
            province_of_origin: Some(province.into()),
            crossing_point: None,
            state: "referred".into(),
        }
    }

    fn cell<'a>(t: &'a Table, dim: &str, value: &str) -> Option<&'a Cell> {
        t.dimensions
            .iter()
            .find(|d| d.name == dim)?
            .cells
            .iter()
            .find(|c| c.value == value)
    }

    #[test]
    fn small_cells_and_the_cell_that_would_reveal_them_are_suppressed() {
        // 9 Feminine, 1 Masculine: Masculine is under k, and Feminine = total - it.
        let mut cases: Vec<CaseFacts> = (0..9).map(|_| case("Feminine", 16, "LA-SV")).collect();
        cases.push(case("Masculine", 16, "LA-SV"));
        let t = tabulate(&cases, 5);
        assert_eq!(t.total, Some(10));
        assert_eq!(cell(&t, "gender", "Masculine").unwrap().count, None);
        assert_eq!(cell(&t, "gender", "Feminine").unwrap().count, None);
        assert_eq!(
            cell(&t, "provinceOfOrigin", "LA-SV").unwrap().count,
            Some(10)
        );
        assert_eq!(cell(&t, "ageBroad", "9--17").unwrap().count, Some(10));
        assert_eq!(cell(&t, "outcome", "in_progress").unwrap().count, Some(10));
    }

    #[test]
    fn two_small_cells_hide_each_other_and_large_ones_show() {
        // 6 LA-SV, 6 LA-VT, 2 LA-CH, 1 LA-XS
        let mut cases = Vec::new();
        for (p, n) in [("LA-SV", 6), ("LA-VT", 6), ("LA-CH", 2), ("LA-XS", 1)] {
            cases.extend((0..n).map(|_| case("Feminine", 30, p)));
        }
        let t = tabulate(&cases, 5);
        assert_eq!(
            cell(&t, "provinceOfOrigin", "LA-SV").unwrap().count,
            Some(6)
        );
        assert_eq!(
            cell(&t, "provinceOfOrigin", "LA-VT").unwrap().count,
            Some(6)
        );
        assert_eq!(cell(&t, "provinceOfOrigin", "LA-CH").unwrap().count, None);
        assert_eq!(cell(&t, "provinceOfOrigin", "LA-XS").unwrap().count, None);
        assert_eq!(cell(&t, "ageBroad", "30--38").unwrap().count, Some(15));
    }

    #[test]
    fn fewer_cases_than_k_show_nothing() {
        let cases: Vec<CaseFacts> = (0..4).map(|_| case("Feminine", 16, "LA-SV")).collect();
        let t = tabulate(&cases, 5);
        assert_eq!(t.total, None);
        assert!(
            t.dimensions
                .iter()
                .flat_map(|d| &d.cells)
                .all(|c| c.count.is_none())
        );
        assert!(t.to_csv().contains("total,,suppressed\n"));
    }

    #[test]
    fn age_bands_follow_ctdc() {
        assert_eq!(age_band(Some(8)), "0--8");
        assert_eq!(age_band(Some(17)), "9--17");
        assert_eq!(age_band(Some(48)), "48+");
        assert_eq!(age_band(None), "Unknown");
    }
}
