# One app registration with application permissions (app roles) only, its service principal,
# and optionally admin consent and a certificate credential.

terraform {
  required_providers {
    azuread = {
      source = "hashicorp/azuread"
    }
  }
}

variable "display_name" {
  type = string
}

variable "notes" {
  type = string
}

variable "permissions" {
  description = "Entries of permissions.json: resource (display name) and permission (value)."
  type = list(object({
    key        = string
    set        = string
    resource   = string
    permission = string
    title      = string
  }))
}

variable "resources" {
  description = "Per resource display name: its client id, service principal object id, and app_role_ids (value -> id)."
  type = map(object({
    client_id    = string
    object_id    = string
    app_role_ids = map(string)
  }))
}

variable "owners" {
  type = list(string)
}

variable "grant_admin_consent" {
  type = bool
}

variable "certificate_pem" {
  type = string
}

locals {
  # "WindowsDefenderATP/Machine.Isolate" -> the permission entry; several capabilities may share one.
  roles = { for p in var.permissions : "${p.resource}/${p.permission}" => p }

  missing = [
    for name, p in local.roles : name
    if lookup(lookup(var.resources, p.resource, { app_role_ids = {} }).app_role_ids, p.permission, null) == null
  ]

  by_resource = {
    for resource in distinct([for p in values(local.roles) : p.resource]) :
    resource => [for p in values(local.roles) : p.permission if p.resource == resource]
  }
}

resource "azuread_application" "this" {
  display_name     = var.display_name
  notes            = var.notes
  owners           = var.owners
  sign_in_audience = "AzureADMyOrg"

  dynamic "required_resource_access" {
    for_each = local.by_resource
    content {
      resource_app_id = var.resources[required_resource_access.key].client_id

      dynamic "resource_access" {
        for_each = required_resource_access.value
        content {
          id   = lookup(var.resources[required_resource_access.key].app_role_ids, resource_access.value, "")
          type = "Role"
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = length(local.missing) == 0
      error_message = "These application permissions are not published in this tenant: ${join(", ", local.missing)}. Check the permission names in permissions.json."
    }
  }
}

resource "azuread_service_principal" "this" {
  client_id = azuread_application.this.client_id
  owners    = var.owners
}

# Admin consent for an application permission is an app role assignment to the service principal.
resource "azuread_app_role_assignment" "consent" {
  for_each = var.grant_admin_consent ? local.roles : {}

  app_role_id         = var.resources[each.value.resource].app_role_ids[each.value.permission]
  principal_object_id = azuread_service_principal.this.object_id
  resource_object_id  = var.resources[each.value.resource].object_id
}

resource "azuread_application_certificate" "this" {
  count = var.certificate_pem == null ? 0 : 1

  application_id = azuread_application.this.id
  type           = "AsymmetricX509Cert"
  value          = var.certificate_pem
}

output "client_id" {
  value = azuread_application.this.client_id
}

output "permissions" {
  value = sort(keys(local.roles))
}
