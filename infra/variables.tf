variable "project_id" {
  description = "Project that hosts the connector: functions, Firestore, Pub/Sub, Scheduler, the webhook secret."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id (6-30 characters: lowercase letters, digits, hyphens)."
  }
}

variable "region" {
  description = "Region of the functions, the source bucket and (by default) Cloud Scheduler, Firestore and Vertex AI."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name. Service account ids are \"<prefix>-<suffix>\" with suffixes up to 10 characters, hence the 20 character limit."
  type        = string
  default     = "polysync-vertex"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 6-20 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "labels" {
  description = "Labels added to every resource that takes labels."
  type        = map(string)
  default     = {}
}

# --- Vertex AI ---------------------------------------------------------------

variable "vertex_locations" {
  description = "Vertex AI locations the connector may create jobs in (PSV_ALLOWED_LOCATIONS). The first one is the default location for runs submitted without a template. Null: [region]."
  type        = list(string)
  default     = null

  validation {
    condition     = var.vertex_locations == null ? true : length(var.vertex_locations) > 0 && alltrue([for l in var.vertex_locations : can(regex("^[a-z]+-[a-z]+[0-9]$", l))])
    error_message = "vertex_locations must be a non-empty list of regions such as us-central1."
  }
}

variable "vertex_projects" {
  description = "Projects the connector may create and read Vertex AI jobs in (PSV_ALLOWED_PROJECTS). The functions' service accounts get their Vertex AI roles in each of them. Null: [project_id]."
  type        = list(string)
  default     = null

  validation {
    condition     = var.vertex_projects == null ? true : length(var.vertex_projects) > 0 && alltrue([for p in var.vertex_projects : can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", p))])
    error_message = "vertex_projects must be a non-empty list of project ids."
  }
}

variable "job_service_accounts" {
  description = "Emails of the service accounts Vertex AI jobs run as: the templates' serviceAccount (Custom Jobs, Pipeline Jobs, Batch Prediction Jobs). submit gets roles/iam.serviceAccountUser (iam.serviceAccounts.actAs) on each of them and nothing wider; with an outputs bucket they may write it. Accounts may live in other projects (docs/deploy.md, cross-project prerequisites). A Custom Job or Batch Prediction Job without a serviceAccount runs as a Vertex AI service agent and needs no grant; a Pipeline Job without one runs as the Compute Engine default service account, which needs pipelines_may_use_compute_default_sa."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.job_service_accounts : can(regex("^[a-z0-9-]+@[a-z0-9.-]+\\.gserviceaccount\\.com$", a))])
    error_message = "job_service_accounts entries must be service account emails."
  }
}

variable "pipelines_may_use_compute_default_sa" {
  description = "Pipeline Jobs created without a serviceAccount run as the Compute Engine default service account (PROJECT_NUMBER-compute@developer.gserviceaccount.com), and creating them needs actAs on it. true: submit gets roles/iam.serviceAccountUser on that account in every Vertex AI project. false (default): such a create fails with 403 naming the account; give Pipeline Job templates a serviceAccount from job_service_accounts instead (recommended: the default account is often an Editor)."
  type        = bool
  default     = false
}

# --- Polling -----------------------------------------------------------------

variable "poll_schedule" {
  description = "Cron schedule (UTC) of the poll tick. Every minute by default; a status change is seen at most one interval late."
  type        = string
  default     = "* * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.poll_schedule))) == 5
    error_message = "poll_schedule must be a five-field cron expression."
  }
}

variable "scheduler_region" {
  description = "Cloud Scheduler region (Scheduler is not offered in every region). Null: region."
  type        = string
  default     = null
}

variable "queued_threshold_seconds" {
  description = "Seconds a run may stay PENDING or QUEUED before one queued_too_long event is published (PSV_QUEUED_THRESHOLD_SECONDS)."
  type        = number
  default     = 1800

  validation {
    condition     = var.queued_threshold_seconds >= 60 && floor(var.queued_threshold_seconds) == var.queued_threshold_seconds
    error_message = "queued_threshold_seconds must be a whole number of at least 60."
  }
}

variable "poll_inline_max" {
  description = "Active runs one poll invocation handles itself; above this it fans out to poll_shard through the shard topic (PSV_POLL_INLINE_MAX)."
  type        = number
  default     = 2000

  validation {
    condition     = var.poll_inline_max >= 1 && floor(var.poll_inline_max) == var.poll_inline_max
    error_message = "poll_inline_max must be a positive whole number."
  }
}

variable "poll_interval_seconds" {
  description = "Seconds between poll passes inside the scheduler's one-minute tick while the projected list calls stay within poll_calls_per_minute (PSV_POLL_INTERVAL_SECONDS, issue 24). 0 or 60: one pass a minute (the cadence off; docs/deploy.md, Cost of the poll cadence)."
  type        = number
  default     = 15

  validation {
    condition     = var.poll_interval_seconds >= 0 && var.poll_interval_seconds <= 60 && floor(var.poll_interval_seconds) == var.poll_interval_seconds
    error_message = "poll_interval_seconds must be a whole number between 0 and 60 (0 or 60: one pass a minute)."
  }
}

variable "poll_calls_per_minute" {
  description = "Vertex AI list calls per minute per region the poll cadence may spend (PSV_POLL_CALLS_PER_MINUTE; the region's quota is 600 per minute, shared with everything else in the project)."
  type        = number
  default     = 120

  validation {
    condition     = var.poll_calls_per_minute >= 1 && floor(var.poll_calls_per_minute) == var.poll_calls_per_minute
    error_message = "poll_calls_per_minute must be a positive whole number."
  }
}

variable "trigger_max_delivery_attempts" {
  description = "Deliveries of one shard message or hint to its function before it goes to the trigger dead-letter topic (poll ticks are never redelivered)."
  type        = number
  default     = 10

  validation {
    condition     = var.trigger_max_delivery_attempts >= 5 && var.trigger_max_delivery_attempts <= 100
    error_message = "trigger_max_delivery_attempts must be between 5 and 100 (Pub/Sub's limits)."
  }
}

# --- Hints (issue 24) ----------------------------------------------------------

variable "hints_enabled" {
  description = "Create a log sink in every Vertex AI project that routes Vertex AI's job-state log entries to the hints topic, so the hint function records Custom and Pipeline Job changes within seconds. false: no sinks; the poll cadence alone sees changes."
  type        = bool
  default     = true
}

variable "hint_gets_per_minute" {
  description = "Vertex AI GET calls per minute the hint function may spend; above it hints are ignored until the next tick (PSV_HINT_GETS_PER_MINUTE)."
  type        = number
  default     = 120

  validation {
    condition     = var.hint_gets_per_minute >= 0 && floor(var.hint_gets_per_minute) == var.hint_gets_per_minute
    error_message = "hint_gets_per_minute must be a whole number, 0 or more."
  }
}

variable "hint_max_instances" {
  description = "Upper bound of concurrent hint function instances."
  type        = number
  default     = 5

  validation {
    condition     = var.hint_max_instances >= 1 && var.hint_max_instances <= 100
    error_message = "hint_max_instances must be between 1 and 100."
  }
}

# --- Diagnostics (issue 25) ----------------------------------------------------

variable "log_reads_per_minute" {
  description = "Cloud Logging entries:list reads per minute the pollers spend on failed jobs' log tails (PSV_LOG_READS_PER_MINUTE; Cloud Logging allows 60 per minute per project)."
  type        = number
  default     = 20

  validation {
    condition     = var.log_reads_per_minute >= 0 && var.log_reads_per_minute <= 60 && floor(var.log_reads_per_minute) == var.log_reads_per_minute
    error_message = "log_reads_per_minute must be a whole number between 0 and 60."
  }
}

# --- Custom Job outputs (issue 26) ---------------------------------------------

variable "outputs_bucket_enabled" {
  description = "Create the bucket Custom Jobs write their Output parameters to (PSV_OUTPUTS_BUCKET). false: no bucket; Output parameters of Custom Jobs are ignored with a warning."
  type        = bool
  default     = true
}

variable "outputs_bucket_name" {
  description = "Name of the outputs bucket. Null: \"<project_id>-<name_prefix>-outputs\"."
  type        = string
  default     = null
}

variable "outputs_prefix" {
  description = "Object prefix of the outputs in the bucket (PSV_OUTPUTS_PREFIX)."
  type        = string
  default     = "polysync-outputs"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.outputs_prefix))
    error_message = "outputs_prefix must be a path without leading or trailing slashes (letters, digits, . _ - and /)."
  }
}

variable "outputs_kms_key" {
  description = "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) that encrypts the outputs bucket (CMEK); the Cloud Storage service agent is granted Encrypter/Decrypter on it. Null: Google-managed encryption."
  type        = string
  default     = null

  validation {
    condition     = var.outputs_kms_key == null ? true : can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.outputs_kms_key))
    error_message = "outputs_kms_key must be projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>."
  }
}

variable "outputs_custom_code_agent_writes" {
  description = "Let the Vertex AI Custom Code Service Agent of each Vertex AI project (service-<number>@gcp-sa-aiplatform-cc.iam.gserviceaccount.com, which runs Custom Jobs without a serviceAccount) write the outputs bucket. Google creates that agent when Vertex AI first runs custom code in the project; until then the grant fails with \"does not exist\" (docs/deploy.md, step 2)."
  type        = bool
  default     = true
}

# --- Firestore ---------------------------------------------------------------

variable "firestore_backup_retention_days" {
  description = "Daily Firestore backups are kept this many days (at most 98, 14 weeks); point-in-time recovery covers only 7. 0: no backup schedule."
  type        = number
  default     = 14

  validation {
    condition     = var.firestore_backup_retention_days >= 0 && var.firestore_backup_retention_days <= 98 && floor(var.firestore_backup_retention_days) == var.firestore_backup_retention_days
    error_message = "firestore_backup_retention_days must be a whole number between 0 and 98."
  }
}

variable "create_firestore_database" {
  description = "Create the Firestore database. Set false when firestore_database already exists in the project (it must be in Native mode)."
  type        = bool
  default     = true
}

variable "firestore_database" {
  description = "Firestore database id (PSV_FIRESTORE_DATABASE)."
  type        = string
  default     = "(default)"

  validation {
    condition     = var.firestore_database == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database))
    error_message = "firestore_database must be \"(default)\" or 4-63 characters: lowercase letters, digits, hyphens."
  }
}

variable "firestore_location" {
  description = "Firestore location (a region or a multi-region such as nam5). Null: region. Cannot change after creation."
  type        = string
  default     = null
}

variable "collection_prefix" {
  description = "Prefix of the Firestore collection names (PSV_COLLECTION_PREFIX). Empty in a dedicated project."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]*$", var.collection_prefix))
    error_message = "collection_prefix may only hold letters, digits, underscores and hyphens."
  }
}

# --- Webhook authentication --------------------------------------------------

variable "webhook_secret_id" {
  description = "Id of the Secret Manager secret in project_id that holds the webhook HMAC secret(s). Required: create the secret and its first version with gcloud before the first apply (docs/deploy.md, step 3). The value is never in Terraform state or plans."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.webhook_secret_id))
    error_message = "webhook_secret_id must be a secret id (letters, digits, underscores, hyphens), not a full resource name. Create it first: printf '%s' \"$SECRET\" | gcloud secrets create polysync-webhook --data-file=- (docs/deploy.md, step 3)."
  }
}

variable "webhook_secret_version" {
  description = "Secret version the HTTP functions read at instance start-up. \"latest\" picks up a new version as instances restart; pin a number and apply to roll every instance to it at once (docs/deploy.md, rolling the secret)."
  type        = string
  default     = "latest"

  validation {
    condition     = var.webhook_secret_version == "latest" || can(regex("^[1-9][0-9]*$", var.webhook_secret_version))
    error_message = "webhook_secret_version must be \"latest\" or a version number."
  }
}

# --- HTTP invocation ---------------------------------------------------------

variable "http_access" {
  description = "How Polysync's calls get past Cloud Run to the HTTP functions (the HMAC signature is the gate in every case; iam.tf): \"allUsers\" (default: allUsers gets roles/run.invoker, all in Terraform), \"invoker_iam_disabled\" (Cloud Run's invoker IAM check off, no binding: for organisations that enforce domain-restricted sharing, iam.allowedPolicyMemberDomains, which refuses allUsers; set by the apply pipeline after each apply, docs/deploy.md step 6), \"members\" (only http_invoker_members, e.g. an API gateway)."
  type        = string
  default     = "allUsers"

  validation {
    condition     = contains(["allUsers", "invoker_iam_disabled", "members"], var.http_access)
    error_message = "http_access must be \"allUsers\", \"invoker_iam_disabled\" or \"members\"."
  }

  validation {
    condition     = var.http_access != "members" || length(var.http_invoker_members) > 0
    error_message = "http_access = \"members\" needs at least one entry in http_invoker_members."
  }
}

variable "public_http" {
  description = "Replaced by http_access; must stay unset (a tfvars that still sets it would otherwise be ignored silently)."
  type        = bool
  default     = null

  validation {
    condition     = var.public_http == null
    error_message = "public_http was replaced by http_access: public_http = true is http_access = \"allUsers\", public_http = false is http_access = \"members\"."
  }
}

variable "http_invoker_members" {
  description = "IAM members (e.g. \"serviceAccount:gw@p.iam.gserviceaccount.com\") allowed to invoke the HTTP functions when http_access = \"members\", such as an API gateway in front of them."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.http_invoker_members : can(regex("^(serviceAccount|user|group|domain|principal|principalSet):", m))])
    error_message = "http_invoker_members entries must be IAM members such as serviceAccount:x@y.iam.gserviceaccount.com; allUsers is what http_access = \"allUsers\" is for."
  }
}

variable "status_subscriber_members" {
  description = "IAM members that get roles/pubsub.subscriber on Polysync's status subscription (Polysync's consumer identity)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.status_subscriber_members : can(regex("^(serviceAccount|user|group|principal|principalSet):", m))])
    error_message = "status_subscriber_members entries must be IAM members such as serviceAccount:x@y.iam.gserviceaccount.com."
  }
}

# --- Function sizing ---------------------------------------------------------

variable "http_memory" {
  description = "Memory of each HTTP function instance."
  type        = string
  default     = "512Mi"
}

variable "http_max_instances" {
  description = "Upper bound of instances per HTTP function. Caps the rate of Vertex AI calls and the bill if the endpoint is flooded; excess requests get 429 and Polysync retries."
  type        = number
  default     = 20

  validation {
    condition     = var.http_max_instances >= 1 && var.http_max_instances <= 1000
    error_message = "http_max_instances must be between 1 and 1000."
  }
}

variable "http_concurrency" {
  description = "Concurrent requests Cloud Run routes to one HTTP function instance (max_instance_request_concurrency). Each request holds a slot until answered or until http_timeout_seconds, so slow clients use slots, not the whole instance. The code is thread-safe."
  type        = number
  default     = 4

  validation {
    condition     = var.http_concurrency >= 1 && var.http_concurrency <= 80
    error_message = "http_concurrency must be between 1 and 80."
  }
}

variable "request_budget_seconds" {
  description = "Time budget of one HTTP request including Vertex AI retries (PSV_REQUEST_BUDGET_SECONDS). At least 10 s below http_timeout_seconds (a precondition on the functions) so the code answers before Cloud Run cuts it off."
  type        = number
  default     = 45

  validation {
    condition     = var.request_budget_seconds > 0 && var.request_budget_seconds <= 3590
    error_message = "request_budget_seconds must be positive and below Cloud Run's 3600 s maximum request timeout."
  }
}

variable "http_timeout_seconds" {
  description = "Cloud Run request timeout of each HTTP function: the time within which a response must be returned, after which Cloud Run closes the connection with 504. Also the longest a slow client can hold one concurrency slot (docs/deploy.md, \"Slow clients\"). Must exceed request_budget_seconds by at least 10 s."
  type        = number
  default     = 60

  validation {
    condition     = var.http_timeout_seconds >= 15 && var.http_timeout_seconds <= 3600 && floor(var.http_timeout_seconds) == var.http_timeout_seconds
    error_message = "http_timeout_seconds must be a whole number between 15 and 3600 (Cloud Run's maximum)."
  }
}

variable "template_cache_seconds" {
  description = "How long an instance caches a fetched template jobSpec (PSV_TEMPLATE_CACHE_SECONDS)."
  type        = number
  default     = 60

  validation {
    condition     = var.template_cache_seconds >= 0
    error_message = "template_cache_seconds must not be negative."
  }
}

variable "poll_memory" {
  description = "Memory of the poll and poll_shard instances."
  type        = string
  default     = "512Mi"
}

variable "poll_shard_max_instances" {
  description = "Upper bound of concurrent poll_shard instances. Caps the rate of Vertex AI get calls (a per-region quota) when many runs are active."
  type        = number
  default     = 10

  validation {
    condition     = var.poll_shard_max_instances >= 1 && var.poll_shard_max_instances <= 100
    error_message = "poll_shard_max_instances must be between 1 and 100."
  }
}

variable "log_level" {
  description = "Minimum log severity (PSV_LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL."
  }
}

# --- Status delivery ---------------------------------------------------------

variable "status_max_delivery_attempts" {
  description = "Deliveries of one status event to Polysync's subscription before it goes to the dead-letter topic."
  type        = number
  default     = 10

  validation {
    condition     = var.status_max_delivery_attempts >= 5 && var.status_max_delivery_attempts <= 100
    error_message = "status_max_delivery_attempts must be between 5 and 100 (Pub/Sub's limits)."
  }
}

# --- Retention ---------------------------------------------------------------

variable "retention_days" {
  description = "Days ended runs and done request records are kept (PSV_RETENTION_DAYS): they get expireAt = end + this, and Firestore's TTL policy deletes them some time after it. After that, status answers 404 and a replay of the requestId is treated as new."
  type        = number
  default     = 90

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 3650 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number between 1 and 3650."
  }
}

# --- Data residency ----------------------------------------------------------

variable "message_storage_regions" {
  description = "Regions Pub/Sub may store messages of the connector's topics in (message_storage_policy). Null: Pub/Sub's default (any region allowed by the organisation policy). Set when an org policy such as constraints/gcp.resourceLocations restricts locations."
  type        = list(string)
  default     = null

  validation {
    condition     = var.message_storage_regions == null ? true : length(var.message_storage_regions) > 0
    error_message = "message_storage_regions must be null or a non-empty list of regions."
  }
}


# --- Function images ---------------------------------------------------------

variable "image_keep_count" {
  description = "Newest image versions kept per function in the Artifact Registry repository, whatever their age."
  type        = number
  default     = 5

  validation {
    condition     = var.image_keep_count >= 1
    error_message = "image_keep_count must be at least 1."
  }
}

variable "image_retention_days" {
  description = "Image versions older than this (and not among the newest image_keep_count) are deleted by the repository's cleanup policy."
  type        = number
  default     = 30

  validation {
    condition     = var.image_retention_days >= 1
    error_message = "image_retention_days must be at least 1."
  }
}

# --- Monitoring --------------------------------------------------------------

variable "notification_channels" {
  description = "Cloud Monitoring notification channels (full names: projects/P/notificationChannels/ID) every alert policy notifies. Create one first (docs/deploy.md, step 2). At least one is required unless allow_silent_alerts = true."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "notification_channels entries must be projects/<project>/notificationChannels/<id>."
  }

  validation {
    condition     = length(var.notification_channels) > 0 || var.allow_silent_alerts
    error_message = "Alerts would page no one: create a notification channel (docs/deploy.md, step 2) and list it in notification_channels, or set allow_silent_alerts = true."
  }
}

variable "allow_silent_alerts" {
  description = "Accept alert policies that notify no channel (incidents visible in the console only). For experiments."
  type        = bool
  default     = false
}

variable "alert_missing_tick_minutes" {
  description = "Alert when no \"poll tick\" log line was written for this many minutes (the poller is not running)."
  type        = number
  default     = 10

  validation {
    condition     = var.alert_missing_tick_minutes >= 3 && var.alert_missing_tick_minutes <= 1440
    error_message = "alert_missing_tick_minutes must be between 3 and 1440."
  }
}

variable "alert_status_oldest_unacked_seconds" {
  description = "Alert when the oldest unacknowledged message of Polysync's status subscription is older than this (Polysync is not consuming)."
  type        = number
  default     = 900

  validation {
    condition     = var.alert_status_oldest_unacked_seconds >= 60
    error_message = "alert_status_oldest_unacked_seconds must be at least 60."
  }
}

variable "alert_http_5xx_ratio" {
  description = "Alert when more than this fraction of an HTTP function's requests answer 5xx over 5 minutes (503 with Retry-After during a Vertex AI or Firestore outage counts)."
  type        = number
  default     = 0.05

  validation {
    condition     = var.alert_http_5xx_ratio > 0 && var.alert_http_5xx_ratio < 1
    error_message = "alert_http_5xx_ratio must be between 0 and 1."
  }
}

variable "alert_vertex_429_per_5min" {
  description = "Alert when Vertex AI answered RESOURCE_EXHAUSTED (429, quota) more than this many times in 5 minutes (after the code's own retries)."
  type        = number
  default     = 5

  validation {
    condition     = var.alert_vertex_429_per_5min >= 0
    error_message = "alert_vertex_429_per_5min must not be negative."
  }
}

# --- CI/CD (cicd.tf) ---------------------------------------------------------

variable "cicd_github" {
  description = "GitHub repository (Cloud Build GitHub App connection) whose pushes and pull requests run the plan and apply triggers, as { owner, name }. Null: no Cloud Build triggers are managed here."
  type = object({
    owner = string
    name  = string
  })
  default = null
}

variable "cicd_plan_service_account" {
  description = "Email of the read-only service account the plan trigger (branches and pull requests) runs as (docs/deploy.md, CI/CD). Required with cicd_github."
  type        = string
  default     = null
}

variable "cicd_deploy_service_account" {
  description = "Email of the deploy service account the apply trigger (main only, approval required) runs as (docs/deploy.md, CI/CD). Required with cicd_github."
  type        = string
  default     = null
}

variable "cicd_tfvars" {
  description = "The tfvars file (relative to infra/) both triggers plan with: the one source of project_id, region and every other variable in CI."
  type        = string
  default     = "prod.tfvars"
}

variable "cicd_state_bucket" {
  description = "GCS bucket holding Terraform state, passed to the triggers as _TF_STATE_BUCKET. Required with cicd_github."
  type        = string
  default     = null
}
