package scan

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Real tool names and descriptions, from the Intercept per-server policies in
// /work/shared/fixtures/intercept-policies (the description is the comment
// beside each tool). The expected category applies the scan's definitions;
// where Intercept's grouping disagrees, the comment says why.
var classificationCases = []struct {
	server, name, desc string
	want               Category
}{
	// Read
	{"asana", "asana_get_project", "Get detailed information about a specific project", Read},
	{"asana", "asana_batch_get_tasks", "Batch retrieve up to 25 tasks at once", Read},
	{"atlassian", "getConfluencePage", "Get a specific Confluence page by ID", Read},
	{"atlassian", "searchJiraIssuesUsingJql", "Search Jira issues using a JQL query", Read},
	{"atlassian", "lookupJiraAccountId", "Look up account IDs of users by display name or email", Read},
	{"aws", "describe_log_groups", "List metadata about log groups", Read},
	{"aws", "query_sql", "Execute read-only SQL queries against S3 Tables", Read},
	{"aws", "tf_output", "Retrieve output values", Read},
	{"azure", "subscription", "List Azure subscriptions", Read},                                 // Intercept: Financial; listing is reading
	{"azure", "pricing", "Get Azure retail pricing, cost estimates, and billing details", Read}, // Intercept: Financial
	{"blender", "get_viewport_screenshot", "Capture a screenshot of the 3D viewport", Read},
	{"browsertools", "takeScreenshot", "Take a screenshot of the active tab", Read},
	{"chrome-devtools", "take_memory_snapshot", "Capture memory state", Read},
	{"cloudflare", "workers_get_worker_code", "Get the source code of a Cloudflare Worker", Read},
	{"cloudflare", "accounts_list", "List all accounts in your Cloudflare account", Read},
	{"cloudflare", "d1_database_query", "Query a D1 database", Read},
	{"convex", "runOneoffQuery", "Execute sandboxed read-only JS queries", Read},
	{"convex", "tables", "List all tables with declared/inferred schemas", Read},
	{"convex", "data", "Paginate through documents in a table", Read},
	{"docker", "fetch_container_logs", "Retrieve container output", Read},
	{"exa", "web_search_exa", "Real-time semantic web search with clean content", Read},
	{"filesystem", "read_multiple_files", "Read the contents of multiple files simultaneously", Read},
	{"filesystem", "directory_tree", "Get a recursive tree view of files and directories", Read},
	{"ghidra", "decompile_function", "Decompile a function by name", Read},
	{"git", "git_show", "Shows the contents of a commit", Read},
	{"git", "git_log", "Shows the commit logs", Read},
	{"git", "git_status", "Shows the working tree status", Read},
	{"github", "issue_read", "Get issue details", Read},
	{"github", "pull_request_read", "Get details for a single pull request", Read},
	{"github", "actions_list", "List GitHub Actions workflows in a repository", Read},
	{"github", "projects_get", "Get details of GitHub Projects resources", Read},
	{"gitlab", "semantic_code_search", "Searches for code snippets through semantic search", Read},
	{"grafana", "get_panel_image", "Render dashboards as PNG", Read},
	{"memory", "read_graph", "Read the entire knowledge graph", Read},
	{"memory", "open_nodes", "Open specific nodes by their names", Read},
	{"mongodb", "find", "Run a find query against a MongoDB collection", Read},
	{"mongodb", "aggregate", "Run an aggregation against a MongoDB collection", Read},
	{"mongodb", "collection-schema", "Describe the schema for a collection", Read},
	{"mongodb", "mongodb-logs", "Returns the most recent logged mongod events", Read},
	{"neo4j", "read-cypher", "Execute arbitrary Cypher queries in read mode", Read},
	{"n8n", "validate_workflow", "Validate an entire workflow JSON", Read}, // Intercept: Write; validation changes nothing
	{"notion", "notion-search", "Search across Notion pages and databases", Read},
	{"paypal", "get_refund", "Get the details for a specific refund", Read},                   // Intercept: Financial
	{"paypal", "list_invoices", "List invoices with optional pagination and filtering", Read}, // Intercept: Financial
	{"paypal", "show_subscription_details", "Retrieve details of a specific subscription", Read},
	{"playwright", "browser_take_screenshot", "Capture a screenshot of the current page", Read},
	{"playwright", "browser_tab_list", "List all open browser tabs", Read},
	{"postgres", "query", "Execute a read-only SQL query against the connected database", Read},
	{"semgrep", "semgrep_scan", "Scan code files with a given config string", Read},
	{"sentry", "whoami", "Identify the authenticated user in Sentry", Read},
	{"slack", "slack_get_channel_history", "Get recent messages from a channel", Read},
	{"stripe", "list_charges", "List charges", Read},                // Intercept: Financial
	{"stripe", "list_payment_intents", "List PaymentIntents", Read}, // Intercept: Financial
	{"stripe", "list_subscriptions", "List subscriptions", Read},    // Intercept: Financial
	{"stripe", "retrieve_balance", "Retrieve balance", Read},
	{"supabase", "get_cost", "Gets the cost of a new project or branch", Read},
	{"tavily", "tavily-extract", "Intelligent data extraction from web pages", Read},
	{"twilio", "lookup_phone_number", "Look up information about a phone number", Read},

	// Write
	{"asana", "asana_add_comment", "Add a comment to a task", Write},
	{"atlassian", "addCommentToJiraIssue", "Add a comment to an existing Jira issue", Write},
	{"atlassian", "editJiraIssue", "Update the details of an existing Jira issue", Write},
	{"atlassian", "transitionJiraIssue", "Transition a Jira issue to a new status", Write},
	{"aws", "update_resource", "Update existing resources", Write},
	{"blender", "download_polyhaven_asset", "Download and import a Polyhaven asset", Write},
	{"chrome-devtools", "fill_form", "Complete entire forms", Write},
	{"chrome-devtools", "navigate_page", "Load a URL", Write}, // Intercept: Execute; navigation runs no code of the agent's
	{"convex", "envSet", "Set or update an environment variable", Write},
	{"docker", "create_container", "Initialize a new container", Write},
	{"docker", "push_image", "Upload an image to a registry", Write},
	{"filesystem", "move_file", "Move or rename files and directories", Write},
	{"ghidra", "rename_function", "Rename a function by its current name", Write},
	{"git", "git_commit", "Records changes to the repository", Write},
	{"git", "git_checkout", "Switches branches", Write},
	{"github", "create_or_update_file", "Create or update file", Write},
	{"github", "issue_write", "Create or update issue", Write},
	{"github", "mark_all_notifications_read", "Mark all notifications as read", Write},
	{"github", "manage_notification_subscription", "Manage notification subscription", Write}, // Intercept: Financial; not a paid subscription
	{"github", "transfer_repository", "Transfer a repository to another owner", Write},        // a transfer, but not of money
	{"github", "merge_pull_request", "Merge pull request", Write},
	{"gitlab", "create_workitem_note", "Adds a comment to a work item", Write},
	{"grafana", "patch_dashboard", "Apply targeted changes without full JSON", Write},
	{"linear", "create_issue", "Create a new issue or sub-issue", Write},
	{"memory", "create_entities", "Create multiple new entities in the knowledge graph", Write},
	{"mixpanel", "Rename-Tag", "Rename an existing tag", Write},
	{"mongodb", "insert-many", "Insert an array of documents into a collection", Write},
	{"notion", "notion-move-pages", "Move pages to a different parent", Write},
	{"paypal", "create_order", "Create an order in PayPal", Write},
	{"paypal", "generate_invoice_qr_code", "Generate a QR code for an invoice", Write}, // Intercept: Financial; a QR code moves no money
	{"playwright", "browser_type", "Type text into an input field", Write},
	{"playwright", "browser_click", "Click an element on the page", Write},
	{"qdrant", "qdrant-store", "Store information in Qdrant database with optional metadata", Write},
	{"slack", "slack_post_message", "Post a new message to a Slack channel", Write},
	{"slack", "slack_reply_to_thread", "Reply to a specific message thread", Write},
	{"stripe", "create_customer", "Create customer", Write},
	{"stripe", "update_dispute", "Update dispute", Write},
	{"supabase", "pause_project", "Pauses a project", Write},
	{"twilio", "send_message", "Send an SMS or MMS message", Write},
	{"twilio", "create_call", "Initiate a voice call", Write},

	// Execute
	{"aws", "call_aws", "Execute authenticated AWS API calls", Execute},
	{"aws", "invoke_lambda", "Execute Lambda functions as MCP tools", Execute},
	{"aws", "tf_apply", "Apply Terraform changes", Execute},
	{"blender", "execute_blender_code", "Execute arbitrary Python code in Blender", Execute},
	{"chrome-devtools", "evaluate_script", "Execute JavaScript", Execute},
	{"circleci", "run_pipeline", "Trigger a pipeline to run", Execute},
	{"circleci", "run_rollback_pipeline", "Trigger a rollback for a project", Execute},
	{"clickhouse", "run_query", "Execute SQL queries on ClickHouse cluster", Execute},
	{"clickhouse", "run_chdb_select_query", "Execute SQL queries using chDB embedded engine", Execute},
	{"convex", "run", "Execute a deployed Convex function with provided arguments", Execute},
	{"docker", "run_container", "Launch a container", Execute},
	{"docker", "build_image", "Create an image from a Dockerfile", Execute},
	{"github", "actions_run_trigger", "Trigger GitHub Actions workflow actions", Execute},
	{"n8n", "n8n_test_workflow", "Trigger and test workflow execution", Execute},
	{"neo4j", "write-cypher", "Execute Cypher with write capabilities", Execute},
	{"neon", "run_sql", "Execute individual SQL queries", Execute},
	{"playwright", "browser_install", "Install the browser binary", Execute},
	{"puppeteer", "puppeteer_evaluate", "Execute JavaScript in the browser console", Execute},
	{"square", "make_api_request", "Execute API calls to Square services", Execute},
	{"supabase", "execute_sql", "Executes raw SQL in the database", Execute},
	{"supabase", "apply_migration", "Applies a SQL migration to the database", Execute},
	{"supabase", "deploy_edge_function", "Deploys a new Edge Function to a project", Execute},
	{"trigger-dev", "trigger_task", "Trigger a task run with a payload", Execute},

	// Financial
	{"paypal", "cancel_sent_invoice", "Cancel a sent invoice", Financial},
	{"paypal", "cancel_subscription", "Cancel an active subscription", Financial},
	{"paypal", "create_invoice", "Create a new invoice", Financial},
	{"paypal", "create_refund", "Process a refund for a captured payment", Financial},
	{"paypal", "create_subscription", "Create a new subscription", Financial},
	{"paypal", "pay_order", "Process payment for an authorised order", Financial},
	{"paypal", "send_invoice", "Send an invoice to recipients", Financial},
	{"paypal", "send_invoice_reminder", "Send a reminder for an existing invoice", Financial},
	{"paypal", "update_subscription", "Update an existing subscription", Financial},
	{"paypal", "accept_dispute_claim", "Accept a dispute claim", Financial}, // conceding refunds the buyer
	{"stripe", "create_refund", "Create refund", Financial},
	{"stripe", "finalize_invoice", "Finalise invoice", Financial},
	{"stripe", "create_invoice_item", "Create invoice item", Financial},
	{"stripe", "create_payment_link", "Create payment link", Financial},
	{"stripe", "cancel_subscription", "Cancel subscription", Financial},
	{"stripe", "create_charge", "Charge a customer's card", Financial},
	{"supabase", "confirm_cost", "Confirms the user's understanding of costs", Financial}, // the step that commits to paying
	{"twilio", "create_incoming_phone_number", "Purchase a phone number", Financial},      // Intercept: Write; a purchase
	{"example", "transfer_funds", "Transfer money between accounts", Financial},
	{"example", "capture_payment", "Capture an authorized payment", Financial},
	{"example", "refund_payment", "Refunds a payment", Financial},

	// Destructive
	{"atlassian", "deleteConfluencePage", "Delete a Confluence page", Destructive},
	{"aws", "tf_destroy", "Destroy infrastructure", Destructive},
	{"aws", "manage_k8s_resource", "Read/create/update/delete Kubernetes resources", Destructive}, // Intercept: Other; it can delete
	{"browsertools", "wipeLogs", "Clear all stored logs from the local server", Destructive},
	{"cloudflare", "d1_database_delete", "Delete a D1 database", Destructive},
	{"cognee", "prune", "Clear all stored data and reset the knowledge graph", Destructive},
	{"convex", "envRemove", "Remove an environment variable", Destructive},
	{"docker", "remove_container", "Delete a container", Destructive},
	{"filesystem", "write_file", "Create a new file or overwrite an existing file", Destructive}, // Intercept: Write; it overwrites
	{"github", "delete_file", "Delete file", Destructive},
	{"graphiti", "clear_graph", "Clear all data for specified group IDs", Destructive},
	{"memory", "delete_entities", "Delete multiple entities and their relations", Destructive},
	{"mixpanel", "Delete-Tag", "Delete a tag from a project", Destructive},
	{"mongodb", "delete-many", "Removes all documents that match the filter", Destructive},
	{"mongodb", "drop-database", "Removes the specified database", Destructive},
	{"n8n", "n8n_delete_workflow", "Delete a workflow", Destructive},
	{"neon", "reset_from_parent", "Revert branch to parent state", Destructive},
	{"notion", "notion-delete-page", "Delete a Notion page", Destructive},
	{"postman", "deleteWorkspace", "Delete a workspace", Destructive},
	{"supabase", "reset_branch", "Resets migrations of a development branch", Destructive},
	{"example", "repo.delete", "", Destructive},
	{"example", "d1_database_delete", "", Destructive},
}

func TestClassifyRealNames(t *testing.T) {
	for _, c := range classificationCases {
		t.Run(c.server+"/"+c.name, func(t *testing.T) {
			a := Classify(Tool{Name: c.name, Description: c.desc})
			if a.Category != c.want {
				t.Errorf("Classify(%q, %q) = %s (%s), want %s", c.name, c.desc, a.Category, a.Reason, c.want)
			}
			if a.Reason == "" {
				t.Errorf("Classify(%q): empty reason", c.name)
			}
		})
	}
}

func loadFixture(tb testing.TB) []Tool {
	tb.Helper()
	data, err := os.ReadFile(fixturePath)
	if err != nil {
		tb.Fatal(err)
	}
	tools, err := ParseToolsFile(data)
	if err != nil {
		tb.Fatal(err)
	}
	return tools
}

// fixturePath is the 323-tool list (testdata/README.md), relative to this package.
const fixturePath = "../../testdata/fusionauth-tools.json"

func fixtureTool(tb testing.TB, name string) Tool {
	tb.Helper()
	for _, t := range loadFixture(tb) {
		if t.Name == name {
			return t
		}
	}
	tb.Fatalf("no tool %q in the fixture", name)
	return Tool{}
}

func TestImportRefreshTokensWithID(t *testing.T) {
	a := Classify(fixtureTool(t, "importRefreshTokensWithId"))
	if a.Category != Write || a.Risk != (Risk{Level: 3, Label: "Medium"}) {
		t.Fatalf("got %s %+v (%s), want Write 3 Medium", a.Category, a.Risk, a.Reason)
	}
	kinds := map[string]Signal{}
	for _, s := range a.Signals {
		kinds[s.Kind] = s
	}
	if s, ok := kinds[SignalCredentials]; !ok || !slices.Contains(s.Paths, "requestBody.refreshTokens[].token") {
		t.Errorf("credentials signal = %+v, want a path requestBody.refreshTokens[].token", s)
	}
	s, ok := kinds[SignalManyParams]
	if !ok || len(s.Paths) != 20 {
		t.Errorf("many_parameters signal = %+v (%d paths), want 20 parameters", s, len(s.Paths))
	}
	if slices.Contains(s.Paths, "requestBody") {
		t.Errorf("the requestBody wrapper must not be counted: %v", s.Paths)
	}
	if b, ok := kinds[SignalBulk]; !ok || !slices.Contains(b.Paths, "requestBody.refreshTokens") {
		t.Errorf("bulk signal = %+v, want path requestBody.refreshTokens", b)
	}
}

func TestClassifyFixtureNames(t *testing.T) {
	want := map[string]Category{
		"retrieveJsonWebKeySetWithId":              Read,
		"searchUsersByQueryWithId":                 Read,
		"validateJWTWithId":                        Read,
		"retrieveEmailTemplatePreviewWithId":       Read, // "Creates a preview": still a read
		"createAPIKey":                             Write,
		"patchIPAccessControlListWithId":           Write,
		"issueJWTWithId":                           Write,
		"importUsersWithId":                        Write,
		"exchangeRefreshTokenForJWTWithId":         Write,
		"forgotPasswordWithId":                     Write,
		"actionUserWithId":                         Write,
		"reindexWithId":                            Write,
		"retrieveTwoFactorStatusWithRequestWithId": Read,
		"deleteUserBulk":                           Destructive,
		"deleteTenantWithId":                       Destructive,
		"removeUserFromFamilyWithId":               Destructive,
		"revokeRefreshTokenByIdWithId":             Destructive,
	}
	tools := loadFixture(t)
	got := map[string]Category{}
	for _, tool := range tools {
		if _, ok := want[tool.Name]; ok {
			got[tool.Name] = Classify(tool).Category
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fixture categories (-want +got):\n%s", diff)
	}
}

func TestAnnotationsRaiseNeverLower(t *testing.T) {
	yes, no := true, false
	cases := []struct {
		name string
		tool Tool
		want Category
	}{
		{"readOnly cannot lower a delete", Tool{Name: "delete_user", Annotations: &Annotations{ReadOnlyHint: &yes}}, Destructive},
		{"destructiveHint false cannot lower", Tool{Name: "drop_table", Annotations: &Annotations{DestructiveHint: &no}}, Destructive},
		{"destructiveHint raises a write", Tool{Name: "update_config", Annotations: &Annotations{DestructiveHint: &yes}}, Destructive},
		{"destructiveHint is ignored on a read-only tool", Tool{Name: "get_config", Annotations: &Annotations{ReadOnlyHint: &yes, DestructiveHint: &yes}}, Read},
		{"readOnlyHint false raises a read", Tool{Name: "get_or_make", Annotations: &Annotations{ReadOnlyHint: &no}}, Write},
		{"missing annotations are no evidence", Tool{Name: "get_config", Annotations: &Annotations{}}, Read},
		{"readOnlyHint decides when nothing else does", Tool{Name: "widget", Annotations: &Annotations{ReadOnlyHint: &yes}}, Read},
		{"no evidence at all is Write", Tool{Name: "widget"}, Write},
		{"destructiveHint keeps Financial", Tool{Name: "create_refund", Annotations: &Annotations{DestructiveHint: &yes}}, Financial},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Classify(c.tool); got.Category != c.want {
				t.Errorf("got %s (%s), want %s", got.Category, got.Reason, c.want)
			}
		})
	}
}

func TestOperationEnum(t *testing.T) {
	schema := json.RawMessage(`{"type":"object","properties":{"method":{"type":"string","enum":["create","update","delete"]},"owner":{"type":"string"}}}`)
	a := Classify(Tool{Name: "label_write", Description: "Write operations on repository labels", InputSchema: schema})
	if a.Category != Destructive {
		t.Errorf("got %s (%s), want Destructive: the method enum offers delete", a.Category, a.Reason)
	}
}

func TestRiskLevels(t *testing.T) {
	cases := []struct {
		tool Tool
		want Risk
	}{
		{Tool{Name: "list_things"}, Risk{1, "Low"}},
		{Tool{Name: "get_api_key"}, Risk{2, "Low"}},
		{Tool{Name: "read_multiple_files"}, Risk{2, "Low"}},
		{Tool{Name: "create_thing"}, Risk{3, "Medium"}},
		{Tool{Name: "run_script"}, Risk{4, "High"}},
		{Tool{Name: "create_refund"}, Risk{5, "Critical"}},
		{Tool{Name: "delete_thing"}, Risk{5, "Critical"}},
	}
	for _, c := range cases {
		if got := Classify(c.tool).Risk; got != c.want {
			t.Errorf("%s: risk %+v, want %+v", c.tool.Name, got, c.want)
		}
	}
}

func TestNameWords(t *testing.T) {
	cases := map[string][]string{
		"d1_database_delete":        {"d1", "database", "delete"},
		"deleteConfluencePage":      {"delete", "confluence", "page"},
		"repo.delete":               {"repo", "delete"},
		"Run-Frequency-Query":       {"run", "frequency", "query"},
		"createAPIKey":              {"create", "api", "key"},
		"importRefreshTokensWithId": {"import", "refresh", "tokens", "with", "id"},
		"createDevice_authorize":    {"create", "device", "authorize"},
		"generate_hunyuan3d_model":  {"generate", "hunyuan3d", "model"},
	}
	for in, want := range cases {
		if diff := cmp.Diff(want, nameWords(in)); diff != "" {
			t.Errorf("nameWords(%q) (-want +got):\n%s", in, diff)
		}
	}
}
