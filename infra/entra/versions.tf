terraform {
  required_version = ">= 1.5"

  required_providers {
    azuread = {
      source  = "hashicorp/azuread"
      version = "~> 3.0"
    }
  }
}

# Authenticates as whoever runs Terraform (az login, or ARM_* variables). Creating applications
# needs Application Administrator or Cloud Application Administrator; granting admin consent
# (grant_admin_consent = true) needs Privileged Role Administrator or Global Administrator.
provider "azuread" {}
