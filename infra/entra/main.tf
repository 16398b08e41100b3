# hunt-bot's Entra app registration(s): hunting apart from remediation, so a read-only install
# is possible. The permissions come from permissions.json, which mirrors
# bot/defender/permissions.py (a test keeps them equal).
#
# App role ids are never written here: they are looked up by permission value from the resource
# service principals in the tenant (Microsoft Graph, WindowsDefenderATP), so a typo or a
# permission the tenant does not publish fails the plan instead of granting something else.

locals {
  capabilities = jsondecode(file("${path.module}/permissions.json")).capabilities

  hunting = [for c in local.capabilities : c if c.set == "hunting"]
  wanted = (
    var.remediation_capabilities == null
    ? [for c in local.capabilities : c.key if c.set == "remediation"]
    : var.remediation_capabilities
  )
  remediation          = [for c in local.capabilities : c if c.set == "remediation" && contains(local.wanted, c.key)]
  unknown_capabilities = setsubtract(local.wanted, [for c in local.capabilities : c.key])

  hunting_app_permissions = concat(
    local.hunting, var.remediation == "same_app" ? local.remediation : []
  )
  remediation_app_permissions = var.remediation == "separate_app" ? local.remediation : []

  # Only look WindowsDefenderATP up when a Defender for Endpoint permission is wanted: a tenant
  # without Defender for Endpoint has no such service principal.
  needs_mde = anytrue([
    for c in concat(local.hunting_app_permissions, local.remediation_app_permissions) :
    c.resource == "WindowsDefenderATP"
  ])

  # Per resource: what the app registration and the consent need to know about it.
  resources = {
    for name, sp in {
      "Microsoft Graph"    = data.azuread_service_principal.graph
      "WindowsDefenderATP" = one(data.azuread_service_principal.mde)
    } :
    name => {
      client_id    = sp.client_id
      object_id    = sp.object_id
      app_role_ids = sp.app_role_ids
    }
    if sp != null
  }
}

check "known_capabilities" {
  assert {
    condition     = length(local.unknown_capabilities) == 0
    error_message = "remediation_capabilities names capabilities not in permissions.json: ${join(", ", local.unknown_capabilities)}."
  }
}

data "azuread_client_config" "current" {}

# Microsoft publishes the well-known first-party client ids; Graph's is among them.
data "azuread_application_published_app_ids" "well_known" {}

data "azuread_service_principal" "graph" {
  client_id = data.azuread_application_published_app_ids.well_known.result["MicrosoftGraph"]
}

data "azuread_service_principal" "mde" {
  count        = local.needs_mde ? 1 : 0
  client_id    = var.mde_client_id
  display_name = var.mde_client_id == null ? "WindowsDefenderATP" : null
}

module "hunting_app" {
  source = "./app"

  display_name        = var.hunting_app_name
  notes               = "hunt-bot: Slack chat-ops for Microsoft Defender XDR (${var.remediation == "same_app" ? "hunting and remediation" : "hunting"})."
  permissions         = local.hunting_app_permissions
  resources           = local.resources
  owners              = var.owners
  grant_admin_consent = var.grant_admin_consent
  certificate_pem     = var.hunting_certificate_pem
}

module "remediation_app" {
  source = "./app"
  count  = var.remediation == "separate_app" ? 1 : 0

  display_name        = var.remediation_app_name
  notes               = "hunt-bot: remediation after approval in Slack (email, device and file actions)."
  permissions         = local.remediation_app_permissions
  resources           = local.resources
  owners              = var.owners
  grant_admin_consent = var.grant_admin_consent
  certificate_pem     = var.remediation_certificate_pem
}
