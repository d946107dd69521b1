# Production environment: the seed's deployment (resource group diamond-prod-rg), every value as
# the seed states it (the modules' defaults). What every environment shares (backend, provider,
# the operator's TF_VAR_* inputs, the call of modules/environment, the outputs) is root.tf, a
# link to ../common/root.tf. Secrets come from TF_VAR_* variables, never from files.
#   cd infrastructure/terraform/environments/prod
#   terraform init -backend-config=backend.hcl && terraform plan && terraform apply

locals {
  environment = {
    name                 = "prod"
    storage_account_name = "diamondprodwatermarks"
  }
}
