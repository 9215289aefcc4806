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

variable "job_service_account" {
  description = "Email of the service account Vertex AI jobs run as (the templates' jobSpec.serviceAccount). When set, submit gets roles/iam.serviceAccountUser on that account only. Null: jobs run as the Vertex AI service agent and no grant is needed."
  type        = string
  default     = null

  validation {
    condition     = var.job_service_account == null ? true : can(regex("^[a-z0-9-]+@[a-z0-9.-]+\\.gserviceaccount\\.com$", var.job_service_account))
    error_message = "job_service_account must be a service account email."
  }
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

# --- Firestore ---------------------------------------------------------------

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
  description = "Id of an existing Secret Manager secret in project_id that holds the webhook HMAC secret(s). Null: Terraform creates the secret \"<name_prefix>-webhook\" without a value; add the value with gcloud (docs/deploy.md). The value is never in Terraform state."
  type        = string
  default     = null

  validation {
    condition     = var.webhook_secret_id == null ? true : can(regex("^[A-Za-z0-9_-]{1,255}$", var.webhook_secret_id))
    error_message = "webhook_secret_id must be a secret id (letters, digits, underscores, hyphens), not a full resource name."
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

variable "public_http" {
  description = "Let anyone reach the HTTP functions at the Cloud Run level (allUsers gets roles/run.invoker). Polysync calls them as a webhook without a Google identity and every request is authenticated by its HMAC signature instead. Set false to require a Google identity (then list the callers in http_invoker_members)."
  type        = bool
  default     = true
}

variable "http_invoker_members" {
  description = "IAM members (e.g. \"serviceAccount:gw@p.iam.gserviceaccount.com\") allowed to invoke the HTTP functions when public_http is false, such as an API gateway in front of them."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.http_invoker_members : can(regex("^(serviceAccount|user|group|domain|principal|principalSet):", m))])
    error_message = "http_invoker_members entries must be IAM members such as serviceAccount:x@y.iam.gserviceaccount.com; allUsers is what public_http is for."
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
  description = "Concurrent requests per HTTP function instance. The code must be thread-safe for values above 1."
  type        = number
  default     = 4

  validation {
    condition     = var.http_concurrency >= 1 && var.http_concurrency <= 80
    error_message = "http_concurrency must be between 1 and 80."
  }
}

variable "request_budget_seconds" {
  description = "Time budget of one HTTP request including Vertex AI retries (PSV_REQUEST_BUDGET_SECONDS). Kept below the HTTP functions' 60 s timeout so the code answers before Cloud Run cuts it off."
  type        = number
  default     = 45

  validation {
    condition     = var.request_budget_seconds > 0 && var.request_budget_seconds <= 50
    error_message = "request_budget_seconds must be in (0, 50]: the HTTP functions time out at 60 s."
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
