output "tenant_id" {
  description = "AZURE_TENANT_ID"
  value       = data.azuread_client_config.current.tenant_id
}

output "hunting_client_id" {
  description = "AZURE_CLIENT_ID of the app the bot signs in as."
  value       = module.hunting_app.client_id
}

output "hunting_permissions" {
  value = module.hunting_app.permissions
}

output "remediation_client_id" {
  description = "The separate remediation app's client id (remediation = \"separate_app\" only)."
  value       = one(module.remediation_app[*].client_id)
}

output "remediation_permissions" {
  value = one(module.remediation_app[*].permissions)
}

output "admin_consent_needed" {
  description = "True when an administrator still has to grant consent in the Entra portal."
  value       = !var.grant_admin_consent
}
