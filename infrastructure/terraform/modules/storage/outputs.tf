output "account_name" {
  value = azurerm_storage_account.this.name
}

output "account_id" {
  value = azurerm_storage_account.this.id
}

output "container_name" {
  value = azurerm_storage_container.watermarks.name
}

# The account key and the account's connection string are deliberately not outputs: no app
# holds them (operators read them with `az storage account keys list` when they must).

output "reader_connection_string" {
  description = "AZURE_STORAGE_CONNECTION_STRING for readers of the watermark (API, scheduler, monitor): read-only SAS on the container"
  value       = "BlobEndpoint=${azurerm_storage_account.this.primary_blob_endpoint};SharedAccessSignature=${trimprefix(data.azurerm_storage_account_blob_container_sas.access["reader"].sas, "?")}"
  sensitive   = true
}

output "writer_connection_string" {
  description = "AZURE_STORAGE_CONNECTION_STRING for the consolidator: read + create + write SAS on the container"
  value       = "BlobEndpoint=${azurerm_storage_account.this.primary_blob_endpoint};SharedAccessSignature=${trimprefix(data.azurerm_storage_account_blob_container_sas.access["writer"].sas, "?")}"
  sensitive   = true
}

output "sas_expiry" {
  description = "When the current SAS tokens stop working (an apply after the rotation period renews them)"
  value       = local.sas_expiry
}
