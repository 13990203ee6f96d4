//! TEMPORARY until the config branch lands.
#[derive(Debug, thiserror::Error)]
#[error("bad name")]
pub struct NameError;
pub fn validate(name: &[u8]) -> Result<&str, NameError> {
    let s = std::str::from_utf8(name).map_err(|_| NameError)?;
    if s.is_empty() || s.split('.').any(|c| c.is_empty() || c == "..") || s.contains('/') { return Err(NameError) }
    Ok(s)
}
pub fn file_path(data_dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let mut p = data_dir.to_path_buf();
    for c in name.split('.') { p.push(c); }
    p.set_extension("wsp");
    p
}
