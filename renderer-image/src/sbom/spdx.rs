use crate::inventory::Inventory;

pub fn render(_inv: &Inventory) -> anyhow::Result<String> {
    anyhow::bail!("spdx output is not available yet")
}
