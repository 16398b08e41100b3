variable "remediation" {
  description = <<-EOT
    How remediation is installed:
      "none"         - read-only: one app, ThreatHunting.Read.All only; nothing can be changed.
      "same_app"     - the remediation permissions are added to the one app the bot signs in as.
      "separate_app" - a second app holds the remediation permissions, so its credential can live
                       only where remediation runs (the worker).
  EOT
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "same_app", "separate_app"], var.remediation)
    error_message = "remediation must be \"none\", \"same_app\" or \"separate_app\"."
  }
}

variable "remediation_capabilities" {
  description = <<-EOT
    Which remediation capabilities to grant (keys in permissions.json, e.g. "email.remediate",
    "device.isolate"); null grants them all. Leave out what the bot should never do.
  EOT
  type        = list(string)
  default     = null
}

variable "hunting_app_name" {
  type    = string
  default = "hunt-bot"
}

variable "remediation_app_name" {
  type    = string
  default = "hunt-bot remediation"
}

variable "owners" {
  description = "Object ids of the users or service principals who own the app registrations."
  type        = list(string)
  default     = []
}

variable "grant_admin_consent" {
  description = <<-EOT
    Grant admin consent here (app role assignments). Needs a privileged role; otherwise leave it
    false and an administrator grants consent on the app's "API permissions" page.
  EOT
  type        = bool
  default     = false
}

variable "hunting_certificate_pem" {
  description = "A PEM public certificate to add as the hunting app's credential (optional)."
  type        = string
  default     = null
}

variable "remediation_certificate_pem" {
  description = "A PEM public certificate for the separate remediation app (optional)."
  type        = string
  default     = null
}

variable "mde_client_id" {
  description = <<-EOT
    The application (client) id of the WindowsDefenderATP service principal in your tenant. Null
    looks it up by its display name, which is what most tenants need.
  EOT
  type        = string
  default     = null
}
