// A typed Task API client written the way the Next.js frontend uses the contract: plain fetch,
// with every request and response type taken from the types openapi-typescript generates from
// specs/001-backend-auth-tasks/contracts/task-endpoints.yaml (into ./schema.d.ts, beside a copy of
// this file). test_typescript_client.py compiles it with `tsc --noEmit --strict`.
import type { components, operations } from "./schema";

export type Task = components["schemas"]["TaskResponse"];
type Json<T> = T extends { content: { "application/json": infer Body } } ? Body : never;
type Responses<Op extends keyof operations> = operations[Op]["responses"];
type RequestBody<Op extends keyof operations> = operations[Op] extends {
  requestBody: { content: { "application/json": infer Body } };
}
  ? Body
  : never;

type ListTasksOk = Json<Responses<"list_tasks">[200]>;
type CreateTaskBody = RequestBody<"create_task">;
type CreateTaskOk = Json<Responses<"create_task">[201]>;
type ReadTaskOk = Json<Responses<"read_task">[200]>;
type UpdateTaskBody = RequestBody<"update_task">;
type PatchTaskBody = RequestBody<"patch_task">;
type PatchTaskOk = Json<Responses<"patch_task">[200]>;
type UserId = operations["list_tasks"]["parameters"]["path"]["user_id"];
type TaskId = operations["read_task"]["parameters"]["path"]["task_id"];

// Every documented error is `{"detail": ...}`: a sentence, or the list of failing fields for 422.
type ErrorBody = { detail: string };
type Documents<Body extends ErrorBody> = Body;
export type DocumentedErrors = [
  Documents<Json<Responses<"create_task">[400]>>,
  Documents<Json<Responses<"list_tasks">[401]>>,
  Documents<Json<Responses<"create_task">[403]>>,
  Documents<Json<Responses<"read_task">[404]>>,
  Documents<Json<Responses<"update_task">[404]>>,
  Documents<Json<Responses<"patch_task">[400]>>,
  Documents<Json<Responses<"delete_task">[404]>>,
  Documents<Json<Responses<"delete_task">[503]>>,
];
type ValidationFailure = Json<Responses<"create_task">[422]>;
export type FailingField = NonNullable<ValidationFailure["detail"]>[number]["loc"];
// A 422 item's `ctx` holds the failed constraint's values, e.g. `min_length` for a blank title:
// its values must be readable (`unknown`), not `never`.
type FailureContext = NonNullable<NonNullable<ValidationFailure["detail"]>[number]["ctx"]>;
type Readable<T> = [T] extends [never] ? false : true;
export const contextIsReadable: Readable<FailureContext[string]> = true;
export function minimumLength(failure: ValidationFailure): number | undefined {
  const value = failure.detail?.[0]?.ctx?.min_length;
  return typeof value === "number" ? value : undefined;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: ErrorBody["detail"] | ValidationFailure["detail"],
  ) {
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
  }
}

export interface TaskClient {
  list(userId: UserId): Promise<ListTasksOk>;
  create(userId: UserId, body: CreateTaskBody): Promise<CreateTaskOk>;
  read(userId: UserId, taskId: TaskId): Promise<ReadTaskOk>;
  replace(userId: UserId, taskId: TaskId, body: UpdateTaskBody): Promise<Task>;
  setCompleted(userId: UserId, taskId: TaskId, body: PatchTaskBody): Promise<PatchTaskOk>;
  remove(userId: UserId, taskId: TaskId): Promise<void>;
}

export function createTaskClient(baseUrl: string, getToken: () => Promise<string>): TaskClient {
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${await getToken()}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      const error = (await response.json()) as ErrorBody | ValidationFailure;
      throw new ApiError(response.status, error.detail);
    }
    return (response.status === 204 ? undefined : await response.json()) as T;
  }

  const tasks = (userId: UserId): string => `/api/${encodeURIComponent(userId)}/tasks`;
  return {
    list: (userId) => call("GET", tasks(userId)),
    create: (userId, body) => call("POST", tasks(userId), body),
    read: (userId, taskId) => call("GET", `${tasks(userId)}/${taskId}`),
    replace: (userId, taskId, body) => call("PUT", `${tasks(userId)}/${taskId}`, body),
    setCompleted: (userId, taskId, body) => call("PATCH", `${tasks(userId)}/${taskId}`, body),
    remove: (userId, taskId) => call("DELETE", `${tasks(userId)}/${taskId}`),
  };
}

// What a page does with it: create, complete, list, and show the completed titles.
export async function completedTitles(client: TaskClient, userId: string): Promise<string[]> {
  const created: Task = await client.create(userId, { title: "Buy milk", description: null });
  const done = await client.setCompleted(userId, created.id, { completed: true });
  const tasks = await client.list(userId);
  const since = new Date(done.updated_at);
  return tasks
    .filter((task) => task.completed && new Date(task.updated_at) >= since)
    .map((task) => `${task.title}: ${task.description ?? "no description"}`);
}

// Mistakes the generated types must refuse. Each line below has to be a type error: if the
// contract stopped catching one, `@ts-expect-error` would be unused and tsc would fail.
export async function mistakes(client: TaskClient, task: Task): Promise<void> {
  // @ts-expect-error a task needs a title
  await client.create("alice", { description: "no title" });
  // @ts-expect-error the owner comes from the token, never from the body
  await client.create("alice", { title: "t", user_id: "bob" });
  // @ts-expect-error completion is set with PATCH only
  await client.replace("alice", task.id, { title: "t", completed: true });
  // @ts-expect-error completed is a JSON boolean, not a string
  await client.setCompleted("alice", task.id, { completed: "yes" });
  // @ts-expect-error task ids are numbers
  await client.read("alice", "1");
  // @ts-expect-error the description may be null
  const length: number = task.description.length;
  void length;
}
