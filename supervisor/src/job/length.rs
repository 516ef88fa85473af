//! CSS lengths as a job writes them (`"210mm"`, `"8.5in"`, `"1cm"`, `"96px"`), converted
//! to the inches Chrome's `Page.printToPDF` takes.

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
#[error("{text:?} is not a length with a unit (mm, cm, in, px, pt)")]
pub struct LengthError {
    pub text: String,
}

pub fn inches(text: &str) -> Result<f64, LengthError> {
    let err = || LengthError {
        text: text.to_owned(),
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(err)?;
    let (number, unit) = trimmed.split_at(split);
    let value: f64 = number.trim().parse().map_err(|_| err())?;
    if !value.is_finite() || value < 0.0 {
        return Err(err());
    }
    let per_inch = match unit.to_ascii_lowercase().as_str() {
        "in" => 1.0,
        "cm" => 2.54,
        "mm" => 25.4,
        "px" => 96.0,
        "pt" => 72.0,
        _ => return Err(err()),
    };
    Ok(value / per_inch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_each_unit() {
        assert!((inches("210mm").unwrap() - 8.2677).abs() < 1e-3);
        assert_eq!(inches("8.5in").unwrap(), 8.5);
        assert_eq!(inches("2.54cm").unwrap(), 1.0);
        assert_eq!(inches("96px").unwrap(), 1.0);
        assert_eq!(inches("72pt").unwrap(), 1.0);
    }

    #[test]
    fn refuses_missing_or_unknown_units_and_negatives() {
        for bad in ["12", "1em", "-1mm", "mm", "NaNin", ""] {
            assert!(inches(bad).is_err(), "{bad}");
        }
    }
}
